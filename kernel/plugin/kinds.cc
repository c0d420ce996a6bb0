#include "plugin/kinds.h"

#include <algorithm>
#include <array>
#include <vector>

#include "plugin/plugin_registry.h"

namespace shardjob::plugin::internal {
namespace {

template <typename Interface>
void* Invoke(void (*create)(void), const spi::PluginContext& context, std::string* error) {
  // The plugin stored a PluginFactory<Interface> as void(*)(void) (spi::MakeEntry); converting a
  // function pointer back to its original type is well-defined.
  auto factory = reinterpret_cast<spi::PluginFactory<Interface>>(create);
  Interface* object = factory(context, error);
  return static_cast<void*>(object);
}

// Built from KindOf so that the kind Create<Interface> asks for and the interface its factory is
// called as cannot drift apart.
template <typename Interface>
constexpr KindInfo Kind() {
  return KindInfo{KindOf<Interface>::value, &Invoke<Interface>};
}

constexpr std::array<KindInfo, 8> kKinds = {
    Kind<spi::JobExecutor>(), Kind<spi::ShardingStrategy>(), Kind<spi::ErrorHandler>(),
    Kind<spi::Tracer>(),      Kind<spi::TraceHistory>(),     Kind<spi::JobListener>(),
    Kind<spi::JobObject>(),   Kind<spi::ShardSource>(),
};

}  // namespace

const KindInfo* FindKind(std::string_view kind) {
  for (const KindInfo& info : kKinds) {
    if (kind == info.name) return &info;
  }
  return nullptr;
}

std::string KnownKindList() {
  std::vector<std::string> names;
  for (const KindInfo& info : kKinds) names.emplace_back(info.name);
  std::sort(names.begin(), names.end());
  std::string list;
  for (const std::string& name : names) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

}  // namespace shardjob::plugin::internal
