package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Build compiles the named Lambda packages (e.g. "./functions/triage") of
// the module in moduleDir into dir/<name>/bootstrap, for linux on the host's
// architecture, the way the Makefile builds them for Lambda (-tags
// lambda.norpc, stripped). It returns the paths by name.
func Build(ctx context.Context, moduleDir, dir string, pkgs map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 0, len(pkgs))
	for name, pkg := range pkgs {
		bin := filepath.Join(dir, name, "bootstrap")
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
			cmd.Dir = moduleDir
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			msg, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("build %s (%s): %w\n%s", name, pkg, err, msg))
				return
			}
			out[name] = bin
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Function is one Lambda function: its definition in kumo's Lambda API and a
// bootstrap process polling kumo's Runtime API for it.
type Function struct {
	LogicalID string
	Name      string
	Env       map[string]string
	Timeout   time.Duration
	Memory    int
	// Async is how Lambda handles the function's asynchronous invocations
	// (SNS deliveries): the template's EventInvokeConfig and DeadLetterQueue.
	Async AsyncConfig

	endpoint string // kumo base URL
	client   *http.Client

	cmd      *exec.Cmd
	started  time.Time
	mu       sync.Mutex
	invokes  int
	errors   int
	duration time.Duration
}

// AsyncConfig is what Lambda does with an asynchronous invocation that
// fails: retry it up to MaxRetryAttempts times, then send it to OnFailure
// (an invocation record) and to DeadLetter (the event itself). A nil queue
// is no destination; with neither, Lambda discards the event.
type AsyncConfig struct {
	MaxRetryAttempts int
	OnFailure        *Queue
	DeadLetter       *Queue
}

// DefaultMaxRetryAttempts is Lambda's MaximumRetryAttempts when the
// function sets none.
const DefaultMaxRetryAttempts = 2

// Invocation is the outcome of one Invoke.
type Invocation struct {
	Payload []byte
	// FunctionError is kumo's X-Amz-Function-Error ("Unhandled") when the
	// handler returned an error.
	FunctionError string
	RequestID     string
	Duration      time.Duration
}

// ARN is the function's ARN in the emulated account.
func (fn *Function) ARN(region string) string {
	return "arn:aws:lambda:" + region + ":" + Account + ":function:" + fn.Name
}

// createFunction registers fn in kumo's Lambda API. kumo wants a role and a
// code package but runs nothing itself: the bootstrap polls its Runtime API.
func createFunction(ctx context.Context, client *http.Client, endpoint string, fn *Function) error {
	vars := map[string]string{}
	for k, v := range fn.Env {
		vars[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"FunctionName": fn.Name, "Runtime": "provided.al2023", "Handler": "bootstrap",
		"Role":    "arn:aws:iam::000000000000:role/" + fn.Name,
		"Code":    map[string]any{"ZipFile": []byte("PK")},
		"Timeout": int(fn.Timeout / time.Second), "MemorySize": fn.Memory,
		"Architectures": []string{"arm64"},
		"Environment":   map[string]any{"Variables": vars},
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/2015-03-31/functions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", lambdaAuth)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("create function %s: %w", fn.Name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("create function %s: HTTP %d: %s", fn.Name, resp.StatusCode, msg)
	}
	return nil
}

// Start starts the bootstrap at path with the function's environment (and
// nothing of this process's, besides PATH: the function must not pick up
// the user's AWS credentials). The bootstrap's stderr (its JSON logs) and
// stdout go to logs.
func (fn *Function) Start(path string, logs io.Writer) error {
	u, err := url.Parse(fn.endpoint)
	if err != nil {
		return fmt.Errorf("start %s: %w", fn.Name, err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + u.Host + "/_runtime/" + fn.Name,
		"AWS_LAMBDA_FUNCTION_NAME=" + fn.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(fn.Memory),
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(path),
		"TZ=:UTC",
	}
	keys := make([]string, 0, len(fn.Env))
	for k := range fn.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+fn.Env[k])
	}
	fn.cmd = exec.Command(path)
	fn.cmd.Env = env
	fn.cmd.Stdout, fn.cmd.Stderr = logs, logs
	fn.started = time.Now()
	if err := fn.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", fn.Name, err)
	}
	return nil
}

// Started is when the process was started.
func (fn *Function) Started() time.Time { return fn.started }

// PID is the bootstrap's process ID (0 before Start).
func (fn *Function) PID() int {
	if fn.cmd == nil || fn.cmd.Process == nil {
		return 0
	}
	return fn.cmd.Process.Pid
}

// Stop kills the bootstrap and waits for it.
func (fn *Function) Stop() {
	if fn.cmd == nil || fn.cmd.Process == nil {
		return
	}
	_ = fn.cmd.Process.Kill()
	_ = fn.cmd.Wait()
}

// Stats returns the number of invocations, how many returned a function
// error, and their total duration.
func (fn *Function) Stats() (invokes, errs int, total time.Duration) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.invokes, fn.errors, fn.duration
}

// lambdaAuth names the Lambda service the way a SigV4 signature's scope
// does, which is how kumo routes a request; it checks no signature. The
// SDK's Lambda client is not a dependency of this module, and two calls do
// not need it.
const lambdaAuth = "AWS4-HMAC-SHA256 Credential=local/20260302/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0"

// errNoBackend is kumo's answer while no bootstrap has polled yet.
var errNoBackend = errors.New("no runtime handler yet")

// Invoke calls the function synchronously through kumo's Lambda API, which
// hands the payload to the bootstrap over the Runtime API. Until the
// bootstrap has polled once (a cold start), kumo has no handler for the
// function; Invoke retries then, up to the function's timeout.
func (fn *Function) Invoke(ctx context.Context, payload []byte) (Invocation, error) {
	deadline := time.Now().Add(fn.Timeout + 10*time.Second)
	backoff := time.Millisecond
	for {
		inv, err := fn.invokeOnce(ctx, payload)
		if !errors.Is(err, errNoBackend) || time.Now().After(deadline) {
			if err == nil {
				fn.mu.Lock()
				fn.invokes++
				if inv.FunctionError != "" {
					fn.errors++
				}
				fn.duration += inv.Duration
				fn.mu.Unlock()
			}
			return inv, err
		}
		if fn.cmd != nil && fn.cmd.ProcessState != nil {
			return inv, fmt.Errorf("invoke %s: the bootstrap exited: %s", fn.Name, fn.cmd.ProcessState)
		}
		select {
		case <-ctx.Done():
			return inv, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
}

func (fn *Function) invokeOnce(ctx context.Context, payload []byte) (Invocation, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		fn.endpoint+"/2015-03-31/functions/"+fn.Name+"/invocations", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", lambdaAuth)
	start := time.Now()
	resp, err := fn.client.Do(req)
	if err != nil {
		return Invocation{}, fmt.Errorf("invoke %s: %w", fn.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Invocation{}, fmt.Errorf("invoke %s: read response: %w", fn.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		if strings.Contains(string(body), "no handler") || strings.Contains(string(body), "nothing to execute") ||
			strings.Contains(strings.ToLower(string(body)), "no backend") || strings.Contains(string(body), "no runtime") {
			return Invocation{}, errNoBackend
		}
		return Invocation{}, fmt.Errorf("invoke %s: HTTP %d: %s", fn.Name, resp.StatusCode, body)
	}
	return Invocation{Payload: body, FunctionError: resp.Header.Get("X-Amz-Function-Error"),
		RequestID: resp.Header.Get("X-Amz-Request-Id"), Duration: time.Since(start)}, nil
}

// AddFunction registers one more function in kumo (for benchmarks): id
// names it, env is its whole environment besides the Runtime API
// variables. Start it with Function.Start.
func (s *Stack) AddFunction(ctx context.Context, id string, timeout time.Duration, env map[string]string) (*Function, error) {
	fn := &Function{LogicalID: id, Name: s.name(id), Env: env, Timeout: timeout, Memory: 256, endpoint: s.Kumo.URL, client: s.http}
	if err := createFunction(ctx, s.http, s.Kumo.URL, fn); err != nil {
		return nil, err
	}
	return fn, nil
}

// SESURL is the local SES v2 endpoint.
func (s *Stack) SESURL() string { return s.sesSrv.URL }

// CountingProxy forwards to target and counts the requests it forwards: the
// AWS calls a process pointed at it makes.
func CountingProxy(target string) (*httptest.Server, *atomic.Int64) {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	n := &atomic.Int64{}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	})), n
}

// PeakRSS returns the process's peak resident set size in bytes, from
// /proc (Linux only).
func PeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}
