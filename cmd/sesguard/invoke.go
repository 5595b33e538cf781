package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sesguard/sesguard/internal/dryrun"
	"github.com/sesguard/sesguard/internal/localstack"
)

// invokable are the functions `sesguard invoke` runs: logical ID (as in
// template.yaml and the env-vars file) → package.
var invokable = map[string]string{
	"TriageFunction":      "./functions/triage",
	"BouncewatchFunction": "./functions/bouncewatch",
}

// DefaultEnvFile is the env-vars file shipped for local invocations, in
// the format `sam local invoke --env-vars` reads.
const DefaultEnvFile = "env.local.json"

// runInvoke runs one function's real bootstrap under the Runtime Interface
// Emulator with one event, as Lambda would, and prints what it did. With
// the shipped env-vars file (DRY_RUN=true) nothing leaves the process:
// every AWS endpoint is a tripwire here that counts and refuses calls, and
// the command fails if any was made.
func runInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("invoke", stderr)
	envFile := fs.String("env", DefaultEnvFile, "env-vars `FILE` (sam local invoke --env-vars format)")
	binDir := fs.String("bin", "", "directory with a prebuilt <LogicalId>/bootstrap and aws-lambda-rie (default: build them)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "usage: sesguard %s\n", commandSynopsis("invoke"))
		return exitUsage
	}
	id, eventPath := pos[0], pos[1]
	pkg, ok := invokable[id]
	if !ok {
		fmt.Fprintf(stderr, "sesguard invoke: unknown function %q (want TriageFunction or BouncewatchFunction)\n", id)
		return exitUsage
	}
	event, err := os.ReadFile(eventPath)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard invoke: %v\n", err)
		return exitUsage
	}
	env, err := readEnvFile(*envFile, id)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard invoke: %v\n", err)
		return exitUsage
	}
	if on, _ := dryrun.Enabled(func(k string) string { return env[k] }); !on {
		fmt.Fprintf(stderr, "sesguard invoke: %s does not set %s=true for %s; local invocations only run dry\n", *envFile, dryrun.EnvDryRun, id)
		return exitUsage
	}

	// Every AWS endpoint is this tripwire: a dry run must make no call.
	var calls atomic.Int64
	trip := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "sesguard invoke: a dry run called AWS", http.StatusForbidden)
	}))
	defer trip.Close()
	env["AWS_ENDPOINT_URL"] = trip.URL
	env["AWS_EC2_METADATA_DISABLED"] = "true"
	// What template.yaml's LoggingConfig makes Lambda set.
	env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"] = "JSON", "INFO"
	if env["AWS_REGION"] == "" {
		env["AWS_REGION"] = "us-east-1"
	}
	// Placeholders, so that the SDK never looks for the user's
	// credentials; no call is signed with them.
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "dry-run", "dry-run"

	bootstrap, rie, cleanup, err := invokeBinaries(ctx, *binDir, id, pkg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard invoke: %v\n", err)
		return exitInvalid
	}
	defer cleanup()

	var logs bytes.Buffer
	fn := localstack.NewFunction(id, rie, 30*time.Second, env)
	if err := fn.Start(bootstrap, &logs); err != nil {
		fmt.Fprintf(stderr, "sesguard invoke: %v\n", err)
		return exitInvalid
	}
	inv, err := fn.Invoke(ctx, event)
	fn.Stop()
	fmt.Fprintf(stdout, "%s %s (DRY_RUN: nothing sent)\n", id, filepath.Base(eventPath))
	printLogs(stdout, logs.Bytes())
	if err != nil {
		fmt.Fprintf(stderr, "sesguard invoke: %v\n", err)
		return exitInvalid
	}
	fmt.Fprintf(stdout, "response: %s\n", bytes.TrimSpace(inv.Payload))
	fmt.Fprintf(stdout, "AWS calls made: %d\n", calls.Load())
	if n := calls.Load(); n > 0 {
		fmt.Fprintf(stderr, "sesguard invoke: the dry run made %d AWS call(s)\n", n)
		return exitInvalid
	}
	if inv.FunctionError != "" {
		return exitInvalid
	}
	return exitOK
}

// readEnvFile reads the variables for id from a `sam local invoke
// --env-vars` file: {"Parameters": {...}, "<LogicalId>": {...}}, the
// function's own entries winning.
func readEnvFile(path, id string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("%s: want {\"<LogicalId>\": {\"NAME\": \"value\", ...}}: %v", path, err)
	}
	if _, ok := file[id]; !ok {
		return nil, fmt.Errorf("%s: no entry for %s", path, id)
	}
	env := map[string]string{}
	for _, k := range []string{"Parameters", id} {
		for name, v := range file[k] {
			env[name] = v
		}
	}
	return env, nil
}

// invokeBinaries returns the bootstrap and the emulator: prebuilt in dir,
// or built (into localstack's shared build directory, reused by later runs).
func invokeBinaries(ctx context.Context, dir, id, pkg string, stderr io.Writer) (bootstrap, rie string, cleanup func(), err error) {
	if dir != "" {
		return filepath.Join(dir, id, "bootstrap"), filepath.Join(dir, localstack.RIE), func() {}, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", "", nil, err
	}
	began := time.Now()
	fmt.Fprintf(stderr, "building %s's bootstrap and the Runtime Interface Emulator…\n", id)
	bins, err := localstack.Build(ctx, root, map[string]string{id: pkg})
	if err != nil {
		return "", "", nil, err
	}
	fmt.Fprintf(stderr, "built in %.1fs\n", time.Since(began).Seconds())
	return bins[id], bins[localstack.RIE], func() {}, nil
}

// printLogs prints the function's JSON log lines readably: level, message
// and attributes, with what a dry run would have sent shown in full.
// Lines that are not JSON (the emulator's) are left out.
func printLogs(w io.Writer, logs []byte) {
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var rec map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		var level, msg string
		_ = json.Unmarshal(rec["level"], &level)
		_ = json.Unmarshal(rec["msg"], &msg)
		if msg == "" { // lambdacontext's logger says "message"
			_ = json.Unmarshal(rec["message"], &msg)
		}
		var full json.RawMessage
		keys := make([]string, 0, len(rec))
		for k := range rec {
			switch k {
			case "time", "timestamp", "level", "msg", "message", "requestId", "functionArn":
				continue
			case "alert":
				if msg == dryrun.Message {
					full = rec[k]
					continue
				}
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		fmt.Fprintf(&b, "%-5s %s", level, msg)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, rec[k])
		}
		fmt.Fprintln(w, b.String())
		if full != nil {
			var out bytes.Buffer
			if json.Indent(&out, full, "      ", "  ") == nil {
				fmt.Fprintf(w, "      %s\n", out.String())
			}
		}
	}
}
