package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// noCredentialsEnv is a newcomer's shell: no AWS variables, no shared
// config or credentials files, and no instance metadata to fall back on.
func noCredentialsEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// TestNewcomer is the scripted first hour: the built binary, as a user
// runs it, without AWS credentials. Live checks must say the credentials
// are missing and exit non-zero, never print an offline guess as checked;
// `version` prints the revision the binary was built from.
func TestNewcomer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "sesguard")
	// -buildvcs=auto overrides a GOFLAGS=-buildvcs=false: the revision
	// is what `version` must print.
	// CGO_ENABLED=0 and -trimpath as make demo and make invoke-* build it,
	// so the compiled packages are shared with them.
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=auto", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := noCredentialsEnv(t)
	sh := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("run %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}

	for _, args := range [][]string{
		{"diagnose", "--live", "--region", "us-east-1", notVerified},
		{"facts", "--region", "us-east-1", "noreply@yourapp.com"},
		{"facts", "--all-regions", "--region", "us-east-1", "noreply@yourapp.com"},
	} {
		code, out, errOut := sh(args...)
		if code != exitUnchecked {
			t.Errorf("%v: exit %d, want %d\nstderr: %s", args, code, exitUnchecked, errOut)
		}
		if out != "" {
			t.Errorf("%v: printed to stdout without checking anything:\n%s", args, out)
		}
		for _, want := range []string{"nothing checked", "no usable AWS credentials", "AWS_PROFILE"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, errOut)
			}
		}
	}

	code, out, _ := sh("version")
	if code != exitOK || !strings.HasPrefix(out, "sesguard ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
	// The go command stamps the revision when the module root holds a
	// .git directory (a clone); a git worktree's .git is a file, which it
	// does not recognise, and the binary says so instead.
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if fi, serr := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && serr == nil && fi.IsDir() {
		rev, _ := exec.Command("git", "rev-parse", "HEAD").Output()
		if want := strings.TrimSpace(string(rev)); !strings.Contains(out, "revision "+want) {
			t.Errorf("version = %q, want revision %s", out, want)
		}
	} else if !strings.Contains(out, "revision unknown") {
		t.Errorf("version = %q, built outside a clone: want it to say the revision is unknown", out)
	}
	if _, out2, _ := sh("--version"); out2 != out {
		t.Errorf("--version = %q, version = %q", out2, out)
	}
}

func TestVersionString(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionString(info, true), "sesguard v1.2.0 revision 0123abcd+dirty (2026-01-02T03:04:05Z) go1.26.0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := versionString(nil, false); !strings.Contains(got, "no build information") {
		t.Errorf("no build info: %q", got)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"classify", "diagnose", "facts", "doctor", "local", "invoke", "bench"} {
		code, _, errOut := runCLI(t, "", cmd, "-h")
		if code != exitOK || !strings.Contains(errOut, "usage: sesguard "+cmd) {
			t.Errorf("%s -h: exit %d, %q", cmd, code, errOut)
		}
		code, out, _ := runCLI(t, "", "help", cmd)
		if code != exitOK || !strings.HasPrefix(out, "usage: sesguard "+cmd) || !strings.Contains(out, "flags:\n  -") {
			t.Errorf("help %s: exit %d, %q", cmd, code, out)
		}
	}
	if code, out, _ := runCLI(t, "", "help"); code != exitOK || !strings.Contains(out, "commands:") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

func TestFactsFileRejected(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, data, want string }{
		{"diagnosis", `{"rule":"reject.sandbox-recipient-unverified"}`, `unknown key "rule" (allowed: sendingRegion, regions)`},
		{"array", `[]`, "not a JSON array"},
		{"empty", ``, "not JSON"},
		{"no-regions", `{"sendingRegion":"us-east-1"}`, `no "regions" object`},
		{"region-key", `{"regions":{"us-east-1":{"verified":true}}}`, `"regions"."us-east-1": unknown key "verified"`},
		{"region-name", `{"regions":{"virginia":{}}}`, `"virginia" is not a Region name`},
		{"status", `{"regions":{"us-east-1":{"identities":{"a@b.example":"VERIFIED"}}}}`, `status "VERIFIED" is not one of SUCCESS`},
		{"type", `{"regions":{"us-east-1":{"productionAccess":"yes"}}}`, `productionAccess`},
	} {
		p := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(p, []byte(tc.data), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, "", "diagnose", "--facts", p, notVerified)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, p) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.name, code, out, errOut, tc.want)
		}
	}
	if code, _, errOut := runCLI(t, "", "diagnose", "--facts", "testdata/verified-us-west-2.facts.json", notVerified); code != exitOK {
		t.Errorf("good facts file: exit %d: %s", code, errOut)
	}
}
