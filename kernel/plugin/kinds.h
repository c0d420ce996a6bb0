#pragma once

// The kinds of extension point this kernel can build, and how to call a factory of each kind.
// Internal to shardjob::plugin.

#include <string>
#include <string_view>

#include "shardjob/spi/plugin.h"

namespace shardjob::plugin::internal {

// Calls a manifest entry's untyped factory as the PluginFactory of its kind. The result is the
// kind's Interface* converted to void*, so static_cast<Interface*> recovers it exactly (no
// adjustment happens on the way, which a cast through a different class would need).
using FactoryInvoker = void* (*)(void (*create)(void), const spi::PluginContext& context,
                                 std::string* error);

struct KindInfo {
  const char* name;
  FactoryInvoker invoke;
};

// nullptr when this kernel does not know `kind`.
const KindInfo* FindKind(std::string_view kind);

// "error_handler, executor, ...", sorted, for refusal messages.
std::string KnownKindList();

}  // namespace shardjob::plugin::internal
