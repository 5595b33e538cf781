package localstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The code that builds bootstraps takes its flags from the Makefile: what
// `make build-<LogicalId>` runs must be exactly go build with
// LambdaBuildFlags (and GOARCH=arm64).
func TestLambdaBuildFlagsAreTheMakefiles(t *testing.T) {
	root := filepath.Join("..", "..")
	flags, env, err := LambdaBuildFlags(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(flags, "lambda.norpc") || slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "GOARCH=") }) {
		t.Errorf("flags %q env %q: want -tags lambda.norpc among the flags, and no GOARCH (the caller's)", flags, env)
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed to read the Makefile's build lines: %v", err)
	}
	for id, pkg := range map[string]string{"TriageFunction": "./functions/triage", "BouncewatchFunction": "./functions/bouncewatch"} {
		cmd := exec.Command(makeBin, "-n", "--no-print-directory", "build-"+id, "ARTIFACTS_DIR=out", "GO=go")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, " build ") {
				if got, err = shellWords(line); err != nil {
					t.Fatalf("make -n build-%s: %v", id, err)
				}
			}
		}
		want := slices.Concat(env, []string{"GOARCH=arm64", "go", "build"}, flags, []string{"-o", "out/bootstrap", pkg})
		if !slices.Equal(got, want) {
			t.Errorf("make build-%s runs\n %q\nthe code builds with\n %q", id, got, want)
		}
	}
}

func TestShellWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`-tags lambda.norpc -trimpath -ldflags="-s -w"`, []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}},
		{"CGO_ENABLED=0\tGOOS=linux  'a b'c", []string{"CGO_ENABLED=0", "GOOS=linux", "a bc"}},
	} {
		if got, err := shellWords(c.in); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `"open`, `-ldflags=$(X)`, `a\ b`, `"$HOME"`} {
		if got, err := shellWords(bad); err == nil {
			t.Errorf("shellWords(%q) = %q, want an error", bad, got)
		}
	}
}

// A second taker of the build lock waits for the first (another test
// process building the same binaries), or gives up when its context ends.
func TestLockDirExcludes(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Fatalf("another taker of the held lock: %v, want EWOULDBLOCK", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := lockDir(ctx, dir); err == nil {
		t.Fatal("lockDir with an ended context took the held lock")
	}
	unlock()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the lock after unlock: %v", err)
	}
}
