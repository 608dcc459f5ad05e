// Command amtrack keeps the truth about Seam access methods: it appends Seam
// events to an append-only SQLite log and folds them into a read model.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err (if it has something to say) and returns the process
// exit code: 0 on success, 2 for usage errors, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stderr, "amtrack: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "amtrack: "+err.Error())
	return 1
}

// exitError ends the program with a given code; msg may be empty when the
// command already printed what went wrong.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// commands is filled in init, as the commands' usage reads it.
var commands map[string]command

func init() {
	commands = map[string]command{
		"ingest":   {"append events from JSON Lines, a JSON array or one object (files or - for stdin)", runIngest},
		"sync":     {"backfill the log from Seam's events API (SEAM_API_KEY), resuming from its checkpoint", runSync},
		"generate": {"write a deterministic synthetic Seam event stream as JSON Lines", runGenerate},
		"version":  {"print the version", runVersion},
		"show":     {"print an access method's state as JSON", runShow},
		"history":  {"print a grant's history (its events in fold order) as JSON", runHistory},
		"rebuild":  {"rebuild the read model from the log into new tables and swap them in; safe while serve runs", runRebuild},
		"verify":   {"fold the log again in memory and compare with the read model", runVerify},
		"backup":   {"write a consistent copy of the database to the new file DEST; safe while serve runs", runBackup},
		"serve":    {"serve the read-only HTTP API (and the webhook receiver) on --addr until SIGINT or SIGTERM", runServe},
		"demo":     {"serve the API on a fresh temporary database seeded with demo events, and print URLs to try", runDemo},
	}
}

// env is what a command reads and writes.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// Run runs the amtrack command line args (without the program name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return usageError("unknown command %q; run amtrack --help for the list", args[0])
	}
	return cmd.run(ctx, e, args[1:])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "amtrack keeps the truth about Seam access methods.")
	fmt.Fprintln(w, "\nusage: amtrack <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nrun amtrack <command> --help for its flags")
}

// newFlags returns a FlagSet for a command that prints its usage to stderr
// and reports errors instead of exiting.
func newFlags(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: amtrack %s [flags] %s\n\n%s\n\nflags:\n", name, args, commands[name].summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2}
	}
	return nil
}

// dbFlag adds the --db flag: $AMTRACK_DB or amtrack.db.
func dbFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("AMTRACK_DB")
	if def == "" {
		def = "amtrack.db"
	}
	return fs.String("db", def, "the SQLite database file (env AMTRACK_DB)")
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "amtrack "+versionString())
	return nil
}

func versionString() string {
	if version != "" {
		return version
	}
	v := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return strings.TrimSpace(v)
}
