//go:build race

package server_test

// raceEnabled reports a -race build; the cluster test then builds the
// storm binary with -race too.
const raceEnabled = true
