package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/internal/bouncewatch"
	"github.com/sesguard/sesguard/internal/dryrun"
	"github.com/sesguard/sesguard/internal/triage"
)

// TestMakeInvoke runs the Makefile's invoke targets as a user would, with
// no AWS credentials: the real bootstraps under the Runtime Interface
// Emulator with the shipped env file print the diagnosis, the would-be
// alert and metrics, and make no AWS call (the command's tripwire endpoint
// counts them and fails the run if any is made).
//
// The target's command comes from `make -n`, and must be `go run
// ./cmd/sesguard ARGS`; the test runs ARGS through this binary's run
// instead of letting make compile the CLI a second time (on a cold build
// cache that compile alone outlasted the package's test timeout).
func TestMakeInvoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstraps")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The user's environment (the Go caches) without any AWS setting.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	home := t.TempDir()
	env = append(env, "AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true")
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"invoke-triage", []string{
			"INFO  classified ", `rule="reject.sandbox-recipient-unverified"`, `factsKnown=false`,
			`would="publish alert"`, `"kind": "diagnosis"`, `"level": "critical"`,
			`would="put metric data"`, "response: null", "AWS calls made: 0"}},
		{"invoke-bouncewatch", []string{`would="put metric data"`, `"bounceLevel":"ok"`, "AWS calls made: 0"}},
	} {
		t.Run(tc.target, func(t *testing.T) {
			cmd := exec.Command("make", "-n", "--no-print-directory", tc.target)
			cmd.Dir, cmd.Env = root, env
			plan, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s: %v\n%s", tc.target, err, plan)
			}
			fields := strings.Fields(string(plan))
			at := slices.Index(fields, "./cmd/sesguard")
			if at < 0 || !slices.Contains(fields[:at], "run") {
				t.Fatalf("make %s does not run `go run ./cmd/sesguard ...`:\n%s", tc.target, plan)
			}
			t.Chdir(root)
			var buf bytes.Buffer
			if code := run(context.Background(), fields[at+1:], strings.NewReader(""), &buf, &buf); code != 0 {
				t.Fatalf("make %s (sesguard %s): exit %d\n%s", tc.target, strings.Join(fields[at+1:], " "), code, buf.String())
			}
			out := buf.Bytes()
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("make %s: output lacks %q:\n%s", tc.target, w, out)
				}
			}
		})
	}
}

// TestEnvFile: the shipped env-vars file runs both functions dry and sets
// only variables they read (a misspelt one would silently be ignored).
func TestEnvFile(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, DefaultEnvFile))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	for id, vars := range map[string][]string{"TriageFunction": triage.EnvVars, "BouncewatchFunction": bouncewatch.EnvVars} {
		env, ok := file[id]
		if !ok {
			t.Errorf("%s: no %s entry", DefaultEnvFile, id)
			continue
		}
		if env[dryrun.EnvDryRun] != "true" {
			t.Errorf("%s: %s does not set %s=true", DefaultEnvFile, id, dryrun.EnvDryRun)
		}
		for k := range env {
			if !slices.Contains(vars, k) {
				t.Errorf("%s: %s sets %s, which the function does not read", DefaultEnvFile, id, k)
			}
		}
	}
}
