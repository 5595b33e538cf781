package localstack

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The emulator answers a function error with HTTP 200 and no
// X-Amz-Function-Error header; the body has to tell it from a response.
func TestIsErrorResponse(t *testing.T) {
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"errorMessage":"boom","errorType":"errorString"}`, true},
		{`{"errorMessage":"boom","errorType":"errorString","stackTrace":[]}`, true},
		{`Task timed out after 3.00 seconds`, true},
		{`{"batchItemFailures":[]}`, false},
		{`{"errorType":"x","batchItemFailures":[]}`, false}, // a response that happens to have the key
		{`"hello"`, false},
		{`null`, false},
		{``, false},
	} {
		if got := isErrorResponse([]byte(c.body)); got != c.want {
			t.Errorf("isErrorResponse(%q) = %v, want %v", c.body, got, c.want)
		}
	}
}

func TestInvokeRefusesOversizedEvent(t *testing.T) {
	fn := &Function{Name: "f", envs: []*environment{{url: "http://127.0.0.1:1/unused", exited: make(chan struct{})}}}
	_, err := fn.Invoke(t.Context(), make([]byte, MaxPayload+1))
	if err == nil {
		t.Fatal("Invoke of a 6 MiB + 1 byte event: no error, want Lambda's payload limit")
	}
}

// Stop must end the bootstrap too, at once, even in the middle of an
// invocation (the emulator puts it in a process group of its own), and a
// bootstrap given by a relative path must run.
func TestStopEndsBootstrapMidInvocation(t *testing.T) {
	ctx := t.Context()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	bins := buildFlaky(t)
	rel, err := filepath.Rel(wd, bins["flaky"])
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{} // a pipe, which the bootstrap inherits
	fn := &Function{Name: "hang", Timeout: 10 * time.Minute, Memory: 128, rie: bins[RIE], client: &http.Client{}}
	if err := fn.Start(rel, logs); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := fn.Invoke(ctx, []byte(`{"hang":true}`))
		done <- err
	}()
	// A cold start on a loaded machine can take seconds: the limit only
	// fails a bootstrap that never starts (the handler hangs for the
	// function's ten-minute timeout, far longer).
	pid := 0
	if !until(time.Now().Add(time.Minute), func() bool { pid = fn.PID(); return pid != 0 }) {
		t.Fatalf("no bootstrap process a minute after the invocation began; logs:\n%s", logs.String())
	}
	stopped := make(chan struct{})
	go func() { fn.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(45 * time.Second): // past Stop's own limits; the invocation itself would last ten minutes
		t.Fatal("Stop did not return while the handler hung")
	}
	if err := <-done; err == nil {
		t.Error("the hung invocation returned no error after Stop")
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:])); len(f) > 0 && f[0] != "Z" && f[0] != "X" {
			t.Errorf("bootstrap %d still running after Stop (state %s)", pid, f[0])
		}
	}
}

// buildFlaky builds the test function testdata/flaky and the emulator (once
// for every test process: see Build).
func buildFlaky(t *testing.T) map[string]string {
	t.Helper()
	bins, err := Build(t.Context(), filepath.Join("..", ".."), map[string]string{"flaky": "./internal/localstack/testdata/flaky"})
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

func TestStartRefusesMissingBootstrap(t *testing.T) {
	fn := &Function{Name: "missing", Timeout: time.Second, rie: "/bin/true"}
	if err := fn.Start(filepath.Join(t.TempDir(), "nope", "bootstrap"), io.Discard); err == nil {
		t.Fatal("Start of a bootstrap that does not exist: no error")
	}
}
