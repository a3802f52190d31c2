// The signature thread under tsx (make run, the tests, the benches). On Node 20 tsx puts its
// loader on the main thread only, so a worker cannot load worker.ts by itself: this gives
// the thread tsx's require hook and runs worker.ts through it. The single executable runs
// worker.ts bundled by esbuild instead (build/binary.ts).
require('tsx/cjs');
require('./worker.ts');
