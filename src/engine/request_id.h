// RequestId: the engine's handle of one generation request (core/strong_id.h: not a bare integer,
// so it cannot be mixed up with a token id, a count or an AdapterId). 0 is "no request"; the
// engine numbers requests from 1.
#pragma once

#include "core/strong_id.h"

namespace lpx {

using RequestId = StrongId<struct RequestIdTag>;

}  // namespace lpx
