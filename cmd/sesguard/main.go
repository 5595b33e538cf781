// Command sesguard runs sesguard's rule set from a terminal: classify inputs
// of any supported shape, diagnose an SES error text (offline or against a
// live account, read-only), print an account's facts, and run the whole
// stack locally.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGTERM too (timeout, CI runners): `sesguard local` must stop its
	// emulators and bootstraps and remove its build directory either way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1 // some input was invalid, or the pipeline misbehaved
	exitUsage   = 2
	// exitUnchecked: a live check could not check anything (no
	// credentials, expired, denied or throttled everywhere).
	exitUnchecked = 3
)

const usage = `usage: sesguard <command> [flags]

commands:
  classify [--json] [--facts FILE] [--rules FILE] [FILE...|-]
        classify each input (any supported shape); JSON lines with --json
  diagnose [--region R] [--from ADDR] [--to ADDR,...] [--transport api|smtp]
           [--facts FILE | --live] [--rules FILE] "ERROR TEXT"
        explain an SES error: likely cause, why, what to check, the commands
  facts [--region R] IDENTITY...
        print the account facts JSON (read-only SES calls) for --facts
  doctor [--region R ...|--all-regions] [--identity ID ...] [--configuration-set NAME]
         [--stack NAME] [--json] [--list-checks] [--print-policy] [--probe --yes]
        read-only checks of the SES feedback wiring and sesguard's stack, with the fix;
        --probe --yes also sends one message to the SES mailbox simulator
  local [--scenario FILE] [--seed N] [--report FILE]
        run the whole stack on this machine against the emulator
  local --miswire NAME|list|all
        the local stack with one mis-wiring applied, then doctor: exit 0 if it finds exactly that
  eval [--labels FILE]... [--corpus DIR]... [--min PCT] [-v]
        score the rule set on a labelled corpus: accuracy, confusion by family
  invoke [--env FILE] FUNCTION EVENT.json
        run a function's real bootstrap under the Runtime Interface Emulator
        with one event, dry (DRY_RUN): what it would send is printed
  resume --configuration-set NAME [--region R] [--yes]
        say what sesguard sees for a paused configuration set; --yes turns sending back on
  bench
        measure the rule set, the bootstraps and the functions
  version
        print the module version and the VCS revision it was built from
  help [COMMAND]
        print this list, or one command's flags

"sesguard COMMAND -h" prints a command's flags too.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	// Look-up failures (an unsupported call, a Region not enabled) are
	// reported in the facts themselves; the log keeps only errors.
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	switch cmd {
	case "classify":
		return runClassify(rest, stdin, stdout, stderr)
	case "diagnose":
		return runDiagnose(ctx, rest, stdin, stdout, stderr)
	case "facts":
		return runFacts(ctx, rest, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, rest, stdout, stderr)
	case "local":
		return runLocal(ctx, rest, stdout, stderr)
	case "eval":
		return runEval(rest, stdout, stderr)
	case "invoke":
		return runInvoke(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "version", "--version":
		return runVersion(stdout)
	case "resume":
		return runResume(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		if len(rest) > 0 && rest[0] != "help" && rest[0] != "version" && rest[0] != "-h" && rest[0] != "--help" {
			// The command's own -h, with its flags, on stdout.
			return run(ctx, []string{rest[0], "-h"}, stdin, stdout, stdout)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "sesguard: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}
