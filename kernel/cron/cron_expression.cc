#include "cron/cron_expression.h"

#include <array>
#include <bitset>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <cctz/civil_time.h>

namespace shardjob::cron {
namespace {

// Quartz's year range; it also bounds every search, so NextAfter always terminates.
constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2199;

// Wide enough for the year field; the other fields use only their low bits.
using Values = std::bitset<kMaxYear + 1>;

std::optional<int> NextIn(const Values& values, int from, int to) {
  for (int v = from; v <= to; ++v) {
    if (values.test(static_cast<std::size_t>(v))) return v;
  }
  return std::nullopt;
}

enum class Field { kSeconds, kMinutes, kHours, kDayOfMonth, kMonth, kDayOfWeek, kYear };

struct FieldSpec {
  std::string_view name;
  int min;
  int max;
};

constexpr std::array<FieldSpec, 7> kFieldSpecs = {{
    {"seconds", 0, 59},
    {"minutes", 0, 59},
    {"hours", 0, 23},
    {"day-of-month", 1, 31},
    {"month", 1, 12},
    {"day-of-week", 1, 7},
    {"year", kMinYear, kMaxYear},
}};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
// Index + 1 is Quartz's day-of-week number: 1 = SUN.
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

// `L`, `L-n`, `LW`, `L-nW` and `nW`: days that depend on the month, so they are resolved per month
// rather than stored as fixed values.
struct DayOfMonthRule {
  bool from_last;  // `day` counts back from the month's last day
  int day;
  bool nearest_weekday;
};

// `dL` and `d#n`.
struct DayOfWeekRule {
  int weekday;     // 1 = SUN .. 7 = SAT
  int occurrence;  // 1-5 for d#n, 0 for dL (the last one)
};

struct ParsedField {
  Values values;
  std::vector<DayOfMonthRule> day_of_month_rules;
  std::vector<DayOfWeekRule> day_of_week_rules;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string_view> SplitWhitespace(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) parts.push_back(text.substr(start, i - start));
  }
  return parts;
}

std::string ExpressionPrefix(std::string_view expression) {
  return "cron '" + std::string(expression) + "': ";
}

// Parses one whitespace-separated field: a comma-separated list of tokens.
class FieldParser {
 public:
  FieldParser(std::string_view expression, Field field, std::string_view text)
      : expression_(expression), field_(field), text_(text) {}

  ParsedField Parse() {
    const std::vector<std::string_view> tokens = Split(text_, ',');
    for (std::string_view token : tokens) {
      token_ = token;
      pos_ = 0;
      if (token == "?") {
        if (field_ != Field::kDayOfMonth && field_ != Field::kDayOfWeek) {
          Fail("'?' is only allowed in day-of-month and day-of-week");
        }
        // The caller decides what an all-'?' field means; inside a list it means nothing.
        if (tokens.size() > 1) Fail("'?' must be the whole field");
        continue;
      }
      ParseToken();
    }
    return std::move(result_);
  }

 private:
  const FieldSpec& spec() const { return kFieldSpecs[static_cast<std::size_t>(field_)]; }

  [[noreturn]] void Fail(const std::string& detail) const {
    // An empty token says nothing on its own, so show the whole field instead.
    const std::string_view context = token_.empty() ? text_ : token_;
    throw CronError(ExpressionPrefix(expression_) + std::string(spec().name) + ": " + detail +
                    " in '" + std::string(context) + "'");
  }

  bool AtEnd() const { return pos_ >= token_.size(); }
  std::string_view Rest() const { return token_.substr(pos_); }

  bool Consume(char c) {
    if (AtEnd() || std::toupper(static_cast<unsigned char>(token_[pos_])) != c) return false;
    ++pos_;
    return true;
  }

  void ExpectEnd() const {
    if (!AtEnd()) Fail("unexpected '" + std::string(Rest()) + "'");
  }

  int ParseNumber(std::string_view what) {
    const std::size_t start = pos_;
    while (!AtEnd() && std::isdigit(static_cast<unsigned char>(token_[pos_]))) ++pos_;
    if (pos_ == start) {
      Fail("expected " + std::string(what) +
           (AtEnd() ? std::string() : " but found '" + std::string(Rest()) + "'"));
    }
    const std::string_view digits = token_.substr(start, pos_ - start);
    int value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc()) Fail("number " + std::string(digits) + " is too large");
    return value;
  }

  int ParseValue() {
    const FieldSpec& field = spec();
    if (AtEnd()) Fail("missing value");
    const unsigned char first = static_cast<unsigned char>(token_[pos_]);
    if (std::isdigit(first)) {
      const int value = ParseNumber("a number");
      if (value < field.min || value > field.max) {
        Fail("value " + std::to_string(value) + " out of range " + std::to_string(field.min) + "-" +
             std::to_string(field.max));
      }
      return value;
    }
    const bool named = field_ == Field::kMonth || field_ == Field::kDayOfWeek;
    if (!named || !std::isalpha(first)) Fail("invalid value '" + std::string(Rest()) + "'");

    const std::size_t start = pos_;
    while (!AtEnd() && std::isalpha(static_cast<unsigned char>(token_[pos_]))) ++pos_;
    std::string_view name = token_.substr(start, pos_ - start);
    // "FRIL" is FRI followed by the L suffix.
    if (field_ == Field::kDayOfWeek && name.size() == 4 &&
        std::toupper(static_cast<unsigned char>(name.back())) == 'L') {
      name.remove_suffix(1);
      --pos_;
    }
    if (field_ == Field::kMonth) {
      for (std::size_t i = 0; i < kMonthNames.size(); ++i) {
        if (EqualsIgnoreCase(name, kMonthNames[i])) return static_cast<int>(i) + 1;
      }
      Fail("unknown month name '" + std::string(name) + "'");
    }
    for (std::size_t i = 0; i < kDayNames.size(); ++i) {
      if (EqualsIgnoreCase(name, kDayNames[i])) return static_cast<int>(i) + 1;
    }
    Fail("unknown day name '" + std::string(name) + "'");
  }

  void ParseToken() {
    if (token_.empty()) Fail("empty value");
    if (field_ == Field::kDayOfMonth && Consume('L')) {
      ParseLastDayOfMonth();
      return;
    }
    // A lone L in day-of-week is Quartz's shorthand for its last day, SAT.
    if (field_ == Field::kDayOfWeek && EqualsIgnoreCase(token_, "L")) {
      result_.values.set(7);
      return;
    }

    const FieldSpec& field = spec();
    bool star = false;
    bool ranged = false;
    int first = field.min;
    int last = field.max;
    if (Consume('*')) {
      star = true;
    } else {
      first = last = ParseValue();
      if (Consume('-')) {
        ranged = true;
        last = ParseValue();
      }
    }
    int step = 1;
    bool stepped = false;
    if (Consume('/')) {
      stepped = true;
      step = ParseNumber("a step after '/'");
      const int span = field.max - field.min + 1;
      if (step < 1 || step > span) {
        Fail("step " + std::to_string(step) + " out of range 1-" + std::to_string(span));
      }
      if (!star && !ranged) last = field.max;  // `a/n` runs from a to the field's end
    }
    const bool single = !star && !ranged && !stepped;

    if (field_ == Field::kDayOfMonth && Consume('W')) {
      if (!single) Fail("'W' needs a single day, not a range or step");
      ExpectEnd();
      result_.day_of_month_rules.push_back({false, first, true});
      return;
    }
    if (field_ == Field::kDayOfWeek && Consume('L')) {
      if (!single) Fail("'L' needs a single day-of-week, not a range or step");
      ExpectEnd();
      result_.day_of_week_rules.push_back({first, 0});
      return;
    }
    if (field_ == Field::kDayOfWeek && Consume('#')) {
      if (!single) Fail("'#' needs a single day-of-week, not a range or step");
      const int occurrence = ParseNumber("an occurrence after '#'");
      if (occurrence < 1 || occurrence > 5) {
        Fail("occurrence " + std::to_string(occurrence) + " out of range 1-5");
      }
      ExpectEnd();
      result_.day_of_week_rules.push_back({first, occurrence});
      return;
    }
    ExpectEnd();
    AddRange(first, last, step);
  }

  // After the leading L: `L`, `L-n`, `LW` or `L-nW`.
  void ParseLastDayOfMonth() {
    int offset = 0;
    if (Consume('-')) {
      offset = ParseNumber("an offset after 'L-'");
      if (offset > 30) Fail("offset " + std::to_string(offset) + " out of range 0-30");
    }
    const bool nearest_weekday = Consume('W');
    ExpectEnd();
    result_.day_of_month_rules.push_back({true, offset, nearest_weekday});
  }

  // Quartz reads a reversed range such as 22-2 or FRI-MON as wrapping past the field's end.
  void AddRange(int first, int last, int step) {
    const FieldSpec& field = spec();
    const int span = field.max - field.min + 1;
    if (last < first) {
      if (field_ == Field::kYear) {
        Fail("reversed range " + std::to_string(first) + "-" + std::to_string(last));
      }
      last += span;
    }
    for (int v = first; v <= last; v += step) {
      result_.values.set(static_cast<std::size_t>(v > field.max ? v - span : v));
    }
  }

  std::string_view expression_;
  Field field_;
  std::string_view text_;
  std::string_view token_;
  std::size_t pos_ = 0;
  ParsedField result_;
};

int DaysInMonth(int year, int month) {
  return static_cast<int>((cctz::civil_day(cctz::civil_month(year, month) + 1) - 1).day());
}

// Quartz numbering: 1 = SUN .. 7 = SAT.
int QuartzWeekday(const cctz::civil_day& day) {
  switch (cctz::get_weekday(day)) {
    case cctz::weekday::sunday:
      return 1;
    case cctz::weekday::monday:
      return 2;
    case cctz::weekday::tuesday:
      return 3;
    case cctz::weekday::wednesday:
      return 4;
    case cctz::weekday::thursday:
      return 5;
    case cctz::weekday::friday:
      return 6;
    case cctz::weekday::saturday:
      return 7;
  }
  return 1;  // unreachable; keeps -Wreturn-type quiet
}

}  // namespace

struct CronExpression::Fields {
  Values seconds;
  Values minutes;
  Values hours;
  Values months;
  Values years;
  // Unrestricted means `*` or `?`: the field does not narrow the days.
  bool day_of_month_restricted = false;
  Values days_of_month;
  std::vector<DayOfMonthRule> day_of_month_rules;
  bool day_of_week_restricted = false;
  Values days_of_week;
  std::vector<DayOfWeekRule> day_of_week_rules;

  // Bit d set when day d of the month fires; bit 0 is unused.
  std::bitset<32> DaysIn(int year, int month) const {
    const int last = DaysInMonth(year, month);
    const int first_weekday = QuartzWeekday(cctz::civil_day(year, month, 1));
    const auto weekday_of = [first_weekday](int day) {
      return (first_weekday - 1 + day - 1) % 7 + 1;
    };

    std::bitset<32> by_month_day;
    std::bitset<32> by_weekday;
    for (int day = 1; day <= last; ++day) {
      const auto bit = static_cast<std::size_t>(day);
      if (!day_of_month_restricted || days_of_month.test(bit)) by_month_day.set(bit);
      if (!day_of_week_restricted || days_of_week.test(static_cast<std::size_t>(weekday_of(day)))) {
        by_weekday.set(bit);
      }
    }
    for (const DayOfMonthRule& rule : day_of_month_rules) {
      int day = rule.from_last ? last - rule.day : rule.day;
      if (day < 1 || day > last) continue;  // e.g. 31W in April, L-30 in February
      if (rule.nearest_weekday) {
        // Nearest weekday without leaving the month: a Saturday 1st moves to Monday the 3rd,
        // a Sunday last day back to Friday.
        const int weekday = weekday_of(day);
        if (weekday == 7) {
          day = day == 1 ? 3 : day - 1;
        } else if (weekday == 1) {
          day = day == last ? day - 2 : day + 1;
        }
      }
      by_month_day.set(static_cast<std::size_t>(day));
    }
    for (const DayOfWeekRule& rule : day_of_week_rules) {
      const int first_match = 1 + (rule.weekday - first_weekday + 7) % 7;
      int day = 0;
      if (rule.occurrence == 0) {
        day = first_match + (last - first_match) / 7 * 7;
      } else {
        day = first_match + (rule.occurrence - 1) * 7;
      }
      if (day <= last) by_weekday.set(static_cast<std::size_t>(day));
    }
    return by_month_day & by_weekday;
  }

  // The first civil time at or after `from` that matches every field. Steps field by field, from
  // the year down, so even a yearly expression costs a handful of iterations per year.
  std::optional<cctz::civil_second> NextMatch(cctz::civil_second from) const {
    cctz::civil_second t = from;
    if (t.year() < kMinYear) t = cctz::civil_second(kMinYear, 1, 1, 0, 0, 0);
    while (t.year() <= kMaxYear) {
      const int year = static_cast<int>(t.year());
      const std::optional<int> next_year = NextIn(years, year, kMaxYear);
      if (!next_year) return std::nullopt;
      if (*next_year != year) {
        t = cctz::civil_second(*next_year, 1, 1, 0, 0, 0);
        continue;
      }
      const std::optional<int> month = NextIn(months, t.month(), 12);
      if (!month) {
        t = cctz::civil_second(cctz::civil_year(year) + 1);
        continue;
      }
      if (*month != t.month()) t = cctz::civil_second(year, *month, 1, 0, 0, 0);

      const std::bitset<32> days = DaysIn(year, *month);
      std::optional<int> day;
      for (int d = t.day(); d <= 31; ++d) {
        if (days.test(static_cast<std::size_t>(d))) {
          day = d;
          break;
        }
      }
      if (!day) {
        t = cctz::civil_second(cctz::civil_month(t) + 1);
        continue;
      }
      if (*day != t.day()) t = cctz::civil_second(year, *month, *day, 0, 0, 0);

      const std::optional<int> hour = NextIn(hours, t.hour(), 23);
      if (!hour) {
        t = cctz::civil_second(cctz::civil_day(t) + 1);
        continue;
      }
      if (*hour != t.hour()) t = cctz::civil_second(year, *month, *day, *hour, 0, 0);

      const std::optional<int> minute = NextIn(minutes, t.minute(), 59);
      if (!minute) {
        t = cctz::civil_second(cctz::civil_hour(t) + 1);
        continue;
      }
      if (*minute != t.minute()) t = cctz::civil_second(year, *month, *day, *hour, *minute, 0);

      const std::optional<int> second = NextIn(seconds, t.second(), 59);
      if (!second) {
        t = cctz::civil_second(cctz::civil_minute(t) + 1);
        continue;
      }
      return cctz::civil_second(year, *month, *day, *hour, *minute, *second);
    }
    return std::nullopt;
  }

  // The first fire at or after `earliest` found by walking civil time forward from it.
  std::optional<Seconds> FirstFireFrom(Seconds earliest, const cctz::time_zone& zone) const {
    using Lookup = cctz::time_zone::civil_lookup;
    cctz::civil_second cursor = cctz::convert(earliest, zone);
    while (const std::optional<cctz::civil_second> civil = NextMatch(cursor)) {
      const Lookup lookup = zone.lookup(*civil);
      cursor = *civil + 1;
      switch (lookup.kind) {
        case Lookup::UNIQUE:
          if (lookup.pre >= earliest) return lookup.pre;
          break;
        case Lookup::REPEATED: {
          // `pre` is the first occurrence, the one that fires.
          if (lookup.pre >= earliest) return lookup.pre;
          // We are in the second pass: every wall time of this repeated stretch already had its
          // first occurrence, so resume where the stretch ends instead of walking through it.
          const cctz::civil_second stretch_end =
              cctz::convert(lookup.trans - std::chrono::seconds(1), zone) + 1;
          if (stretch_end > cursor) cursor = stretch_end;
          break;
        }
        case Lookup::SKIPPED: {
          // `pre` maps the skipped wall time with the offset before the jump, i.e. the same
          // distance past the transition (02:30 -> 03:30 after 02:00 -> 03:00).
          Seconds fire = lookup.pre;
          // A real wall time just after the gap can come before that shifted instant.
          if (const auto after_gap = NextMatch(cctz::convert(lookup.trans, zone))) {
            const Seconds real = zone.lookup(*after_gap).pre;
            if (real >= earliest && real < fire) fire = real;
          }
          if (fire >= earliest) return fire;
          break;
        }
      }
    }
    return std::nullopt;
  }

  // Civil order and instant order disagree just after a forward transition: a skipped wall time
  // fires later than real wall times that follow the gap, so a walk starting after the gap would
  // miss it. Finds the earliest such fire still at or after `earliest`, so that the answer does
  // not depend on where between two fires the question is asked.
  std::optional<Seconds> ShiftedFireOfRecentGap(Seconds earliest,
                                                const cctz::time_zone& zone) const {
    cctz::time_zone::civil_transition transition;
    if (!zone.prev_transition(earliest + std::chrono::seconds(1), &transition) ||
        transition.to <= transition.from) {
      return std::nullopt;
    }
    const Seconds at = zone.lookup(transition.to).trans;
    if (at > earliest) return std::nullopt;
    // Skipped wall time `from + d` fires at `at + d`.
    const cctz::civil_second first_ahead = transition.from + (earliest - at).count();
    if (first_ahead >= transition.to) return std::nullopt;
    const std::optional<cctz::civil_second> skipped = NextMatch(first_ahead);
    if (!skipped || *skipped >= transition.to) return std::nullopt;
    return at + std::chrono::seconds(*skipped - transition.from);
  }
};

CronExpression CronExpression::Parse(std::string_view expression) {
  const std::vector<std::string_view> parts = SplitWhitespace(expression);
  if (parts.size() != 6 && parts.size() != 7) {
    throw CronError(ExpressionPrefix(expression) +
                    "expected 6 or 7 fields (seconds minutes hours day-of-month month "
                    "day-of-week [year]), got " +
                    std::to_string(parts.size()));
  }
  const auto parse = [expression, &parts](Field field) {
    return FieldParser(expression, field, parts[static_cast<std::size_t>(field)]).Parse();
  };

  auto fields = std::make_shared<Fields>();
  fields->seconds = parse(Field::kSeconds).values;
  fields->minutes = parse(Field::kMinutes).values;
  fields->hours = parse(Field::kHours).values;
  ParsedField day_of_month = parse(Field::kDayOfMonth);
  fields->months = parse(Field::kMonth).values;
  ParsedField day_of_week = parse(Field::kDayOfWeek);
  if (parts.size() == 7) {
    fields->years = parse(Field::kYear).values;
  } else {
    for (int year = kMinYear; year <= kMaxYear; ++year) fields->years.set(year);
  }

  const std::string_view day_of_month_text = parts[3];
  const std::string_view day_of_week_text = parts[5];
  if (day_of_month_text == "?" && day_of_week_text == "?") {
    throw CronError(ExpressionPrefix(expression) +
                    "day-of-month and day-of-week are both '?'; only one of them may be");
  }
  fields->day_of_month_restricted = day_of_month_text != "?" && day_of_month_text != "*";
  fields->day_of_week_restricted = day_of_week_text != "?" && day_of_week_text != "*";
  if (fields->day_of_month_restricted && fields->day_of_week_restricted) {
    throw CronError(ExpressionPrefix(expression) + "day-of-month '" +
                    std::string(day_of_month_text) + "' and day-of-week '" +
                    std::string(day_of_week_text) +
                    "' are both specified; one of them must be '?'");
  }
  fields->days_of_month = day_of_month.values;
  fields->day_of_month_rules = std::move(day_of_month.day_of_month_rules);
  fields->days_of_week = day_of_week.values;
  fields->day_of_week_rules = std::move(day_of_week.day_of_week_rules);

  CronExpression result;
  result.text_ = std::string(expression);
  result.fields_ = std::move(fields);
  return result;
}

std::optional<Seconds> CronExpression::NextAfter(std::chrono::system_clock::time_point after,
                                                 const cctz::time_zone& zone) const {
  const Seconds earliest =
      std::chrono::floor<std::chrono::seconds>(after) + std::chrono::seconds(1);
  const std::optional<Seconds> regular = fields_->FirstFireFrom(earliest, zone);
  const std::optional<Seconds> shifted = fields_->ShiftedFireOfRecentGap(earliest, zone);
  if (shifted && (!regular || *shifted < *regular)) return shifted;
  return regular;
}

namespace {

[[noreturn]] void ThrowBadOffset(std::string_view name) {
  throw CronError("unknown time zone '" + std::string(name) +
                  "': expected GMT+h, GMT+hh, GMT+hh:mm or GMT+hhmm with hours 0-23 and "
                  "minutes 0-59");
}

// ElasticJob passes java.util.TimeZone IDs, whose custom form is GMT+h, GMT+hh, GMT+hh:mm or
// GMT+hhmm (and the same with '-'); cctz knows none of them.
std::optional<std::chrono::seconds> ParseGmtOffset(std::string_view name) {
  if (name.size() < 5 || name.substr(0, 3) != "GMT" || (name[3] != '+' && name[3] != '-')) {
    return std::nullopt;
  }
  const bool negative = name[3] == '-';
  const std::string_view rest = name.substr(4);
  const auto all_digits = [](std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  };
  const auto to_int = [](std::string_view s) {
    int value = 0;
    for (char c : s) value = value * 10 + (c - '0');
    return value;
  };

  int hours = 0;
  int minutes = 0;
  if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    const std::string_view h = rest.substr(0, colon);
    const std::string_view m = rest.substr(colon + 1);
    if (h.size() > 2 || m.size() != 2 || !all_digits(h) || !all_digits(m)) ThrowBadOffset(name);
    hours = to_int(h);
    minutes = to_int(m);
  } else {
    if (rest.size() > 4 || !all_digits(rest)) ThrowBadOffset(name);
    if (rest.size() <= 2) {
      hours = to_int(rest);
    } else {
      hours = to_int(rest.substr(0, rest.size() - 2));
      minutes = to_int(rest.substr(rest.size() - 2));
    }
  }
  if (hours > 23 || minutes > 59) ThrowBadOffset(name);
  const std::chrono::seconds offset = std::chrono::hours(hours) + std::chrono::minutes(minutes);
  return negative ? -offset : offset;
}

}  // namespace

cctz::time_zone LoadTimeZone(std::string_view name) {
  if (name.empty()) return cctz::local_time_zone();
  if (name == "UTC" || name == "GMT") return cctz::utc_time_zone();
  if (const std::optional<std::chrono::seconds> offset = ParseGmtOffset(name)) {
    return cctz::fixed_time_zone(*offset);
  }
  cctz::time_zone zone;
  // On failure cctz still hands back UTC, which would silently shift every fire.
  if (!cctz::load_time_zone(std::string(name), &zone)) {
    throw CronError("unknown time zone '" + std::string(name) + "'");
  }
  return zone;
}

}  // namespace shardjob::cron
