#pragma once

// Plugins are compiled with -fvisibility=hidden; only what is marked here is seen by the kernel.
#define SHARDJOB_PLUGIN_EXPORT __attribute__((visibility("default")))
