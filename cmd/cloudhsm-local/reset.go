package main

import "flag"

// resetFlag adds reset's own flag, --clock, to the flags of the admin subcommand cmd, and
// returns it; nil for any other subcommand. With it, reset also returns the virtual clock to
// real time (a clean start: the store is empty, so nothing sees time go back).
func resetFlag(cmd string, fs *flag.FlagSet) *bool {
	if cmd != "reset" {
		return nil
	}
	return fs.Bool("clock", false, "also return the virtual clock to real time")
}
