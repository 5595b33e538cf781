package localstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// RIE is the key under which Build returns the Runtime Interface Emulator.
const RIE = "aws-lambda-rie"

// riePackage is the emulator's command, a tool of this module (go.mod pins
// its version).
const riePackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// HelloPackage is the hello-world aws-lambda-go function (relative to the
// module root): the one cold-start baseline, for `sesguard bench` and the
// triage bootstrap's test, built like the bootstraps.
const HelloPackage = "./internal/localstack/testdata/hello"

// EnvBuildDir names a folder to build the bootstraps and the emulator in,
// instead of the default one (see buildDir).
const EnvBuildDir = "SESGUARD_BUILD_DIR"

// The binaries are built into one folder per module and Go build cache,
// shared by every process that asks: `go test ./...` runs the test
// binaries of several packages at once, and each of them needs the
// bootstraps or the emulator. A file lock lets the first build them while
// the others wait, then find them up to date. Whether a binary is up to
// date is go build's own decision (it compares the build ID in the binary
// with the action ID of its sources, flags and toolchain, and then only
// touches it), so a stale binary is never used, and a second build costs
// about half a second. A fresh GOCACHE gets a fresh folder, so a cold build
// cache means a cold build.

// Build compiles the named Lambda packages (e.g. "./functions/triage") of
// the module in moduleDir for linux on the host's architecture, the way the
// Makefile builds them for Lambda (its GOFLAGS_LAMBDA and LAMBDA_ENV), and
// the Runtime Interface Emulator that runs them. It returns the paths by
// name, the emulator's under RIE. The binaries are shared (see above):
// run them, do not change them.
func Build(ctx context.Context, moduleDir string, pkgs map[string]string) (map[string]string, error) {
	out, err := BuildBootstraps(ctx, moduleDir, runtime.GOARCH, pkgs)
	if err != nil {
		return nil, err
	}
	if out[RIE], err = BuildRIE(ctx, moduleDir); err != nil {
		return nil, err
	}
	return out, nil
}

// BuildBootstraps compiles the named Lambda packages for linux/goarch as
// the Makefile does, in one go build (their shared packages are compiled
// once), and returns each one's path by name.
func BuildBootstraps(ctx context.Context, moduleDir, goarch string, pkgs map[string]string) (map[string]string, error) {
	flags, env, err := LambdaBuildFlags(moduleDir)
	if err != nil {
		return nil, err
	}
	root, err := buildDir(ctx, moduleDir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "linux_"+goarch)
	out := map[string]string{}
	byBase := map[string]string{}
	var list []string
	for name, pkg := range pkgs {
		// go build -o DIR/ names each binary after its package's folder.
		base := path.Base(pkg)
		if other, ok := byBase[base]; ok && other != pkg {
			return nil, fmt.Errorf("build %s (%s): its binary would have the name of %s's", name, pkg, other)
		}
		byBase[base] = pkg
		out[name] = filepath.Join(dir, base)
		list = append(list, pkg)
	}
	if len(list) == 0 {
		return out, nil
	}
	args := append(append([]string{"build"}, flags...), "-o", dir+string(filepath.Separator))
	env = append(env, "GOARCH="+goarch)
	if err := goBuild(ctx, moduleDir, dir, env, append(args, list...)...); err != nil {
		return nil, fmt.Errorf("build the bootstraps %v for linux/%s: %w", list, goarch, err)
	}
	return out, nil
}

// BuildRIE compiles the Runtime Interface Emulator for the host and
// returns its path.
func BuildRIE(ctx context.Context, moduleDir string) (string, error) {
	root, err := buildDir(ctx, moduleDir)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "host")
	bin := filepath.Join(dir, RIE)
	if err := goBuild(ctx, moduleDir, dir, []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", bin, riePackage); err != nil {
		return "", fmt.Errorf("build the Runtime Interface Emulator (%s): %w", riePackage, err)
	}
	return bin, nil
}

// goBuild runs go with args in moduleDir, holding dir's lock.
func goBuild(ctx context.Context, moduleDir, dir string, env []string, args ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return err
	}
	defer unlock()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, msg)
	}
	return nil
}

// lockDir takes an exclusive lock on dir (a file in it), waiting for
// another process to let it go, or ctx to end. It polls: a blocking flock
// cannot be given up when ctx ends.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for the build lock of %s: %w", dir, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// buildDir is the folder binaries are built in: $SESGUARD_BUILD_DIR, or
// one under the temporary folder named after the module's folder and the
// Go build cache.
func buildDir(ctx context.Context, moduleDir string) (string, error) {
	if d := os.Getenv(EnvBuildDir); d != "" {
		return filepath.Abs(d)
	}
	abs, err := filepath.Abs(moduleDir)
	if err != nil {
		return "", err
	}
	cache := os.Getenv("GOCACHE")
	if cache == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOCACHE").Output()
		if err != nil {
			return "", fmt.Errorf("go env GOCACHE: %w", err)
		}
		cache = strings.TrimSpace(string(out))
	}
	sum := sha256.Sum256([]byte(abs + "\x00" + cache))
	return filepath.Join(os.TempDir(), fmt.Sprintf("sesguard-build-%d", os.Getuid()), hex.EncodeToString(sum[:8])), nil
}

// makeVar matches a simple variable assignment of the Makefile.
var makeVar = regexp.MustCompile(`^([A-Z_]+)\s*:?=\s*(.*)$`)

// LambdaBuildFlags returns the go build flags and the environment the
// Makefile builds the Lambda bootstraps with (GOFLAGS_LAMBDA and
// LAMBDA_ENV in moduleDir's Makefile: their one place), without GOARCH,
// which the caller chooses.
func LambdaBuildFlags(moduleDir string) (flags, env []string, err error) {
	data, err := os.ReadFile(filepath.Join(moduleDir, "Makefile"))
	if err != nil {
		return nil, nil, fmt.Errorf("the bootstraps' build flags: %w", err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if m := makeVar.FindStringSubmatch(sc.Text()); m != nil {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
	}
	for _, v := range []string{"GOFLAGS_LAMBDA", "LAMBDA_ENV"} {
		if vars[v] == "" {
			return nil, nil, fmt.Errorf("the bootstraps' build flags: Makefile in %s has no %s", moduleDir, v)
		}
	}
	if flags, err = shellWords(vars["GOFLAGS_LAMBDA"]); err != nil {
		return nil, nil, fmt.Errorf("Makefile GOFLAGS_LAMBDA: %w", err)
	}
	words, err := shellWords(vars["LAMBDA_ENV"])
	if err != nil {
		return nil, nil, fmt.Errorf("Makefile LAMBDA_ENV: %w", err)
	}
	for _, w := range words {
		if !strings.Contains(w, "=") {
			return nil, nil, fmt.Errorf("Makefile LAMBDA_ENV: %q is not NAME=value", w)
		}
		if !strings.HasPrefix(w, "GOARCH=") {
			env = append(env, w)
		}
	}
	return flags, env, nil
}

// shellWords splits s as the shell does a command line of plain words and
// single- or double-quoted parts (no escapes, variables or globs: the
// Makefile's flags need none, and one that appears is refused).
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in := false // inside a word
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case '"', '\'':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated %c in %q", c, s)
			}
			if strings.ContainsAny(s[i+1:i+1+j], "\\$`") {
				return nil, fmt.Errorf("%q: escapes and expansions are not supported here", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case '\\', '$', '`', '*', '?':
			return nil, fmt.Errorf("%q: %c is not supported here", s, c)
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty")
	}
	return words, nil
}
