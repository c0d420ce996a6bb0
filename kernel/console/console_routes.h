#pragma once

// The web console (console/, docs/console.md): its files at /console/<name>, index.html at
// /console/, and `/` sent there. The console itself only calls /api, under the API's access
// rules; its files are public, as they hold nothing but code.

#include "http/router.h"

namespace shardjob::console {

void AddConsoleRoutes(http::Router& router);

}  // namespace shardjob::console
