// Deliberately wrong: the CLI layer reaching into the engine's private runtime. It is
// built only by the test `a CLI file cannot include an engine-private header`, which
// passes when the compiler cannot find the header (the moa target sees only the public
// include directories).
#include "runtime/scheduler.hpp"

int layering_probe() { return 0; }
