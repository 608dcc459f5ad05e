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
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signalContext(os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, loadConfig(os.Getenv), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// signalCause is the cause of the context signalContext cancels: the
// signal that arrived.
type signalCause struct{ sig os.Signal }

func (c *signalCause) Error() string { return "received " + c.sig.String() }

// signalContext returns a context cancelled, with a *signalCause, when the
// first of sigs arrives. From then on the signals have their default effect
// again: a second Ctrl-C ends the process at once. stop releases the
// signals.
func signalContext(sigs ...os.Signal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		select {
		case sig := <-ch:
			signal.Stop(ch)
			cancel(&signalCause{sig: sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel(nil) }
}

// interruptedError is the end of a command stopped by a signal: err is what
// the command returned (nil after a clean stop).
type interruptedError struct {
	sig syscall.Signal
	err error
}

func (e *interruptedError) Error() string {
	if e.err == nil || errors.Is(e.err, context.Canceled) {
		return "interrupted"
	}
	return e.err.Error()
}

func (e *interruptedError) Unwrap() error { return e.err }

// interruption returns the result of a command that ended with err: when
// ctx was cancelled by a signal, an *interruptedError, except that a command
// stopped cleanly by SIGTERM (serve's graceful shutdown: what a service
// manager asks for) succeeds.
func interruption(ctx context.Context, err error) error {
	var sc *signalCause
	if !errors.As(context.Cause(ctx), &sc) {
		return err
	}
	sig, ok := sc.sig.(syscall.Signal)
	if !ok || sig == syscall.SIGTERM && err == nil {
		return err
	}
	return &interruptedError{sig: sig, err: err}
}

// exitCode prints err (if it has something to say) and returns the process
// exit code: 0 on success, 1 on failure, 2 for usage errors and 128 plus the
// signal's number for a command stopped by a signal (130 for SIGINT).
func exitCode(err error, stderr io.Writer) int {
	var ie *interruptedError
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ie):
		switch {
		case ie.err == nil:
			// a clean stop: nothing to say
		case errors.As(ie.err, &ee):
			if ee.msg != "" {
				fmt.Fprintln(stderr, "amtrack: "+ee.msg)
			}
		default:
			fmt.Fprintln(stderr, "amtrack: "+ie.Error())
		}
		return 128 + int(ie.sig)
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
		"copy":     {"copy the log of --from into --to, a new database (SQLite or PostgreSQL either way), byte for byte; then rebuild and verify its read model", runCopy},
		"backup":   {"write a consistent copy of the database to the new file DEST; safe while serve runs", runBackup},
		"forget":   {"destroy the keys of access methods' codes (by id, or those deleted before --deleted-before): the codes are gone for good", runForget},
		"rekey":    {"rotate the key that wraps the codes' keys: create NEW_KEY_FILE and rewrap every data key under it", runRekey},
		"serve":    {"serve the read-only HTTP API (and the webhook receiver) on --addr until SIGINT or SIGTERM", runServe},
		"demo":     {"serve the API on a fresh temporary database seeded with demo events, and print URLs to try", runDemo},
	}
}

// env is what a command reads and writes, and its configuration.
type env struct {
	cfg            Config
	stdin          io.Reader
	stdout, stderr io.Writer
	// bars is where progress bars are drawn: stderr when it is a terminal,
	// nil (no bars) otherwise.
	bars io.Writer
}

// Run runs the amtrack command line args (without the program name) with
// the configuration cfg (main's is read from the environment).
func Run(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		e.bars = stderr
	}
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
	return interruption(ctx, cmd.run(ctx, e, args[1:]))
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

// flagSet is a command's flags and the positional arguments it takes.
type flagSet struct {
	*flag.FlagSet
	// args names the positional arguments as the usage line shows them.
	args string
	// cfg gives the flags their defaults.
	cfg Config
}

// newFlags returns the flags of command name, which takes the positional
// arguments args: "" for none, "ID" for exactly one, "FILE..." for one or
// more (parseFlags checks their count). Its
// usage goes to stderr, and errors are reported instead of exiting.
func newFlags(e *env, name, args string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: amtrack %s [flags] %s\n\n%s\n\nflags:\n", name, args, commands[name].summary)
		fs.PrintDefaults()
	}
	return &flagSet{FlagSet: fs, args: args, cfg: e.cfg}
}

// parseFlags parses args with the flags anywhere: before, between or after
// the positional arguments ("--" ends the flags; "-" alone is an argument).
// Then fs.Args() are the positional arguments. A flag error, or a count of
// positional arguments other than the command takes, is a usage error.
func parseFlags(fs *flagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return &exitError{code: 2}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if endedFlags(fs.FlagSet, args[:len(args)-len(rest)]) {
			pos = append(pos, rest...)
			break
		}
		// Parse stopped at a positional argument: take it, parse on.
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if err := checkArgs(fs, pos); err != nil {
		return err
	}
	// Leave fs.Args() holding the positional arguments.
	return fs.Parse(append([]string{"--"}, pos...))
}

// endedFlags reports whether the arguments Parse consumed end with the "--"
// that ends the flags, rather than with a flag's value "--".
func endedFlags(fs *flag.FlagSet, consumed []string) bool {
	n := len(consumed)
	if n == 0 || consumed[n-1] != "--" {
		return false
	}
	if n == 1 {
		return true
	}
	prev := consumed[n-2]
	name := strings.TrimLeft(prev, "-")
	if !strings.HasPrefix(prev, "-") || prev == "--" || strings.Contains(name, "=") {
		return true
	}
	f := fs.Lookup(name)
	if f == nil {
		return true
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag() // a boolean flag takes no value: "--" ended the flags
}

// checkArgs checks the count of positional arguments pos against fs.args.
// Errors: usage, suggesting --db for an argument that looks like a
// database file.
func checkArgs(fs *flagSet, pos []string) error {
	name, spec := fs.Name(), fs.args
	many := strings.HasSuffix(spec, "...")
	switch {
	case strings.HasSuffix(spec, "...]"): // any number, checked by the command
		return nil
	case spec == "" && len(pos) == 0, many && len(pos) > 0, spec != "" && !many && len(pos) == 1:
		return nil
	case many:
		return usageError("%s needs at least one %s argument: amtrack %s [flags] %s",
			name, strings.TrimSuffix(spec, "..."), name, spec)
	case spec != "" && len(pos) == 0:
		article := "a"
		if strings.ContainsRune("AEIOU", rune(spec[0])) {
			article = "an"
		}
		return usageError("%s needs %s %s argument: amtrack %s [flags] %s", name, article, spec, name, spec)
	}
	hint := ""
	if fs.Lookup("db") != nil {
		for _, p := range pos {
			if looksLikeDatabase(p) {
				hint = "; did you mean --db " + p + "?"
				break
			}
		}
	}
	switch {
	case spec == "" && hint != "":
		return usageError("%s takes no arguments%s", name, hint)
	case spec == "":
		return usageError("%s takes no arguments, got %q", name, pos)
	}
	return usageError("%s takes one %s argument, got %d: %q%s", name, spec, len(pos), pos, hint)
}

// looksLikeDatabase reports whether a positional argument is probably a
// database file meant for --db: a .db, .sqlite or .sqlite3 name.
func looksLikeDatabase(arg string) bool {
	switch strings.ToLower(filepath.Ext(arg)) {
	case ".db", ".sqlite", ".sqlite3":
		return true
	}
	return false
}

// dbFlag adds the --db flag: $AMTRACK_DB or amtrack.db.
func dbFlag(fs *flagSet) *string {
	def := fs.cfg.DB
	if def == "" {
		def = "amtrack.db"
	}
	return fs.String("db", def, "the SQLite database file or a postgres:// URL (env AMTRACK_DB)")
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
