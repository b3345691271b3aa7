//go:build race

package sqlite

// raceEnabled reports a -race build: the race detector instruments the
// SQLite engine itself, which makes bulk inserts some fifty times slower.
const raceEnabled = true
