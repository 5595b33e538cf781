package localstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Function is one Lambda function: Environments execution environments
// (one by default), each the real bootstrap run by its own Lambda Runtime
// Interface Emulator (aws-lambda-rie, the go tool of this module), which
// serves the Runtime API to it and the Invoke API to us. Each environment
// runs one invocation at a time, as Lambda's do; Invoke spreads
// invocations over them round robin, InvokeOn picks one.
type Function struct {
	LogicalID string
	Name      string
	Env       map[string]string
	Timeout   time.Duration
	Memory    int
	// Async is how Lambda handles the function's asynchronous invocations
	// (SNS deliveries): the template's EventInvokeConfig and DeadLetterQueue.
	Async AsyncConfig
	// Environments is the number of execution environments Start starts
	// (0 and 1: one).
	Environments int

	rie    string // the emulator binary
	client *http.Client

	envs     []*environment
	next     atomic.Uint64 // round robin over envs
	mu       sync.Mutex
	invokes  int
	errors   int
	duration time.Duration
	perEnv   []int // invocations per environment
}

// environment is one execution environment: an emulator and the bootstrap
// it runs.
type environment struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the emulator has exited
	invokeMu sync.Mutex    // one execution environment: one invocation at a time
	url      string        // the emulator's Invoke endpoint
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

// MaxPayload is Lambda's limit on a synchronous invocation's event (6 MiB).
// Invoke refuses a larger one: the emulator would silently truncate it.
const MaxPayload = 6 << 20

// Invocation is the outcome of one Invoke.
type Invocation struct {
	Payload []byte
	// FunctionError is "Unhandled" when the handler returned an error, the
	// invocation timed out or the bootstrap failed, as Lambda's
	// X-Amz-Function-Error says.
	FunctionError string
	// RequestID is the invocation's request ID, which the function sees
	// in its context and logs.
	RequestID string
	Duration  time.Duration
	// Env is the index of the execution environment that ran it.
	Env int
}

// ARN is the function's ARN in the emulated account.
func (fn *Function) ARN(region string) string {
	return "arn:aws:lambda:" + region + ":" + Account + ":function:" + fn.Name
}

// Start starts an emulator per execution environment for the bootstrap at
// path, with the function's environment (and nothing of this process's,
// besides PATH: the function must not pick up the user's AWS credentials).
// Each emulator starts its bootstrap on its first invocation, as Lambda
// does a cold start. Their output (the function's JSON logs, the
// emulators' START/END/REPORT lines) goes to logs. On an error, the
// environments already started are stopped.
func (fn *Function) Start(path string, logs io.Writer) error {
	n := max(1, fn.Environments)
	envs := make([]*environment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range envs {
		wg.Go(func() { envs[i], errs[i] = fn.startEnv(path, logs, i) })
	}
	wg.Wait()
	fn.envs = envs
	fn.mu.Lock()
	fn.perEnv = make([]int, n)
	fn.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		fn.Stop()
		fn.envs = nil
		return err
	}
	return nil
}

// startEnv starts execution environment i.
func (fn *Function) startEnv(path string, logs io.Writer, i int) (*environment, error) {
	if fn.rie == "" {
		return nil, fmt.Errorf("start %s: no Runtime Interface Emulator binary (build it with Build or BuildRIE)", fn.Name)
	}
	// Absolute paths: the emulator runs in the bootstrap's directory.
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", fn.Name, err)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("start %s: bootstrap: %w", fn.Name, err)
	}
	rie, err := filepath.Abs(fn.rie)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", fn.Name, err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		// What Lambda names each environment's log stream; bouncewatch
		// records it as the environment that acted.
		fmt.Sprintf("AWS_LAMBDA_LOG_STREAM_NAME=local/[$LATEST]env%d", i),
		"AWS_LAMBDA_FUNCTION_NAME=" + fn.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(fn.Memory),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(max(1, int(fn.Timeout/time.Second))),
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
	// The emulator takes its two addresses as flags; free ports are picked
	// here and, should another process take one first (the emulator then
	// exits), picked again.
	for range 3 {
		var addrs []string
		if addrs, err = freeAddrs(2); err != nil {
			break
		}
		invokeAddr, runtimeAddr := addrs[0], addrs[1]
		cmd := exec.Command(rie, "--log-level", "warn",
			"--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr, path)
		cmd.Env = env
		cmd.Dir = filepath.Dir(path)
		cmd.Stdout, cmd.Stderr = logs, logs
		// Its own process group, so that Stop can end it at once (the
		// emulator puts the bootstrap in a group of its own, see Stop).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// The bootstrap inherits the log pipe; Wait must not wait for it
		// forever if it outlives the emulator.
		cmd.WaitDelay = time.Second
		if err = cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", fn.Name, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		err = waitListening(invokeAddr, exited, 10*time.Second)
		if err == nil {
			err = waitListening(runtimeAddr, exited, 10*time.Second)
		}
		if err == nil {
			select {
			case <-exited: // it lost a port after all; what answered was not it
				err = errors.New("it exited just after starting")
			default:
				return &environment{cmd: cmd, exited: exited, url: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"}, nil
			}
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	return nil, fmt.Errorf("start %s environment %d: the Runtime Interface Emulator: %w", fn.Name, i, err)
}

// freeAddrs returns n distinct free loopback addresses (all listened on at
// once, so none is handed out twice).
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// waitListening waits until addr accepts connections, the process exits or
// limit passes.
func waitListening(addr string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("it exited before listening on " + addr)
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s", addr, limit)
		}
	}
}

// PID is the first environment's bootstrap process ID: 0 before the
// first invocation there started it, or after it exited.
func (fn *Function) PID() int {
	if len(fn.envs) == 0 {
		return 0
	}
	return fn.envs[0].pid()
}

func (e *environment) pid() int {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return 0
	}
	// The emulator's only child process is the bootstrap.
	if kids := children(e.cmd.Process.Pid); len(kids) > 0 {
		return kids[0].pid
	}
	return 0
}

// proc is a process, told apart from a later one with its reused ID by its
// start time.
type proc struct {
	pid   int
	start string // field 22 of /proc/PID/stat, in clock ticks since boot
}

// procStat reads /proc/PID/stat's fields after the command name (state,
// ppid, ...); nil if the process is gone.
func procStat(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	return strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
}

// children lists the processes whose parent is pid, exited ones (zombies)
// included.
func children(pid int) []proc {
	parent := strconv.Itoa(pid)
	var out []proc
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		if f := procStat(st); len(f) > 19 && f[1] == parent {
			id, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			out = append(out, proc{pid: id, start: f[19]})
		}
	}
	return out
}

// gone reports whether p has exited: no such process (or another one with
// its ID), or a zombie.
func (p proc) gone() bool {
	f := procStat(fmt.Sprintf("/proc/%d/stat", p.pid))
	return len(f) < 20 || f[19] != p.start || f[0] == "Z" || f[0] == "X"
}

// allStopped reports whether every thread of process pid is stopped (or
// exited).
func allStopped(pid int) bool {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*/stat", pid))
	for _, st := range stats {
		if f := procStat(st); len(f) > 0 && !strings.ContainsAny(f[0], "TtZX") {
			return false
		}
	}
	return true
}

// stopLimit bounds Stop's waits for signals to take effect: a signal acts
// when its target is next scheduled, which on a loaded machine is well
// after kill returns, but not this long after.
const stopLimit = 30 * time.Second

// Stop ends every environment's emulator and bootstrap, and returns once
// all have exited and their output is all in the function's logs.
func (fn *Function) Stop() {
	for _, e := range fn.envs {
		e.stop()
	}
}

// stop ends the emulator and the bootstrap. The emulator starts the
// bootstrap in a process group of its own, so killing the emulator's group
// would leave it running (until its next /next call failed): the emulator
// is paused first, so that it cannot start another, then both groups are
// killed.
func (e *environment) stop() {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return
	}
	select {
	case <-e.exited:
		return // already; its group ID may be someone else's by now
	default:
	}
	emu := e.cmd.Process.Pid
	_ = syscall.Kill(emu, syscall.SIGSTOP)
	// Until every thread of the emulator has stopped, it may still start a
	// bootstrap: its children are killed until then. A child is killed by
	// its ID as well as its group's, since one just forked has not made
	// its own group yet.
	deadline := time.Now().Add(stopLimit)
	var killed []proc
	until(deadline, func() bool {
		stopped := allStopped(emu)
		for _, p := range children(emu) {
			if !slices.Contains(killed, p) && !p.gone() {
				_ = syscall.Kill(-p.pid, syscall.SIGKILL)
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
				killed = append(killed, p)
			}
		}
		return stopped
	})
	// The bootstraps hold the log pipe too: gone before the emulator
	// ends, the emulator's Wait copies the pipe to its end rather than
	// giving up on it after WaitDelay.
	for _, p := range killed {
		until(deadline, p.gone)
	}
	_ = syscall.Kill(-emu, syscall.SIGKILL)
	<-e.exited
}

// until checks cond, less and less often, until it holds or deadline
// passes, and reports whether it held. It polls: another process's state
// (unlike a child's exit) has nothing to wait on.
func until(deadline time.Time, cond func() bool) bool {
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
	}
}

// Stats returns the number of invocations, how many returned a function
// error, and their total duration.
func (fn *Function) Stats() (invokes, errs int, total time.Duration) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.invokes, fn.errors, fn.duration
}

// EnvironmentCount is the number of execution environments started.
func (fn *Function) EnvironmentCount() int { return len(fn.envs) }

// InvokesPerEnvironment returns the number of invocations each environment
// ran.
func (fn *Function) InvokesPerEnvironment() []int {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return append([]int(nil), fn.perEnv...)
}

// Invoke invokes the function on the next environment in round-robin
// order; see InvokeOn.
func (fn *Function) Invoke(ctx context.Context, payload []byte) (Invocation, error) {
	if len(fn.envs) == 0 {
		return Invocation{}, fmt.Errorf("invoke %s: not started", fn.Name)
	}
	return fn.InvokeOn(ctx, int((fn.next.Add(1)-1)%uint64(len(fn.envs))), payload)
}

// InvokeOn invokes the function synchronously on execution environment
// env (modulo their number) through its emulator's Invoke API and waits
// for its response; a concurrent invocation of the same environment waits
// its turn. An error means the invocation could not be made; what the
// function did is in the Invocation.
func (fn *Function) InvokeOn(ctx context.Context, env int, payload []byte) (Invocation, error) {
	if len(fn.envs) == 0 {
		return Invocation{}, fmt.Errorf("invoke %s: not started", fn.Name)
	}
	env = ((env % len(fn.envs)) + len(fn.envs)) % len(fn.envs)
	e := fn.envs[env]
	select {
	case <-e.exited:
		return Invocation{}, fmt.Errorf("invoke %s environment %d: the Runtime Interface Emulator exited", fn.Name, env)
	default:
	}
	if len(payload) > MaxPayload {
		return Invocation{}, fmt.Errorf("invoke %s: the %d-byte event is over Lambda's %d-byte limit", fn.Name, len(payload), MaxPayload)
	}
	e.invokeMu.Lock()
	defer e.invokeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, fn.Timeout+10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	id := newRequestID()
	req.Header.Set("X-Amzn-RequestId", id) // the emulator hands it to the runtime
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
	inv := Invocation{Payload: body, RequestID: id, Duration: time.Since(start), Env: env}
	if resp.StatusCode/100 == 4 {
		// The emulator refused the request itself: a malformed one, or one
		// while another still runs (an earlier Invoke given up on here,
		// which the emulator does not notice).
		return inv, fmt.Errorf("invoke %s: HTTP %d: %s", fn.Name, resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusOK || len(body) == 0 || isErrorResponse(body) {
		inv.FunctionError = "Unhandled"
	}
	if len(body) == 0 {
		// The emulator says nothing when the bootstrap failed to start or
		// start an invocation (its reason is in the function's logs); an
		// aws-lambda-go function always answers something, null at least.
		inv.Payload, _ = json.Marshal(map[string]string{"errorType": "Runtime.Unknown",
			"errorMessage": fmt.Sprintf("the Runtime Interface Emulator answered HTTP %d with no body (see the function's logs)", resp.StatusCode)})
	}
	fn.mu.Lock()
	fn.invokes++
	if inv.FunctionError != "" {
		fn.errors++
	}
	fn.duration += inv.Duration
	if env < len(fn.perEnv) {
		fn.perEnv[env]++
	}
	fn.mu.Unlock()
	return inv, nil
}

// newRequestID returns a random UUID, the form of Lambda's request IDs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// isErrorResponse tells a function error apart from a response. The
// emulator answers both with HTTP 200 and drops Lambda's
// X-Amz-Function-Error header, so the body tells: the runtime's error
// document ({"errorMessage", "errorType"[, "stackTrace"]}), or the
// emulator's own timeout text.
func isErrorResponse(body []byte) bool {
	if bytes.HasPrefix(body, []byte("Task timed out after ")) {
		return true
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return false
	}
	if _, ok := doc["errorType"]; !ok {
		return false
	}
	for k := range doc {
		if k != "errorMessage" && k != "errorType" && k != "stackTrace" {
			return false
		}
	}
	return true
}

// AddFunction returns one more function (for benchmarks): id names it, env
// is its whole environment besides Lambda's own variables. Start it with
// Function.Start.
func (s *Stack) AddFunction(id string, timeout time.Duration, env map[string]string) *Function {
	return &Function{LogicalID: id, Name: s.name(id), Env: env, Timeout: timeout, Memory: 256, rie: s.rie, client: s.http}
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
