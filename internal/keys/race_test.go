//go:build race

package keys_test

// raceEnabled reports a -race build, which runs the SQLite engine
// instrumented: some thirty times slower per write.
const raceEnabled = true
