package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/scenario"
	"github.com/sesguard/sesguard/internal/stack"
	"github.com/sesguard/sesguard/internal/state"
)

// Targets from the issue that set the performance budget.
const (
	targetColdRatio   = 1.3
	targetBootstrapMB = 15
	targetBWCalls     = 2
	targetBWRSSMB     = 40
	targetTriageRate  = 5000
	// Issue 10: the storm with the state table within 1.5x of the
	// in-memory rate, and at most 2 DynamoDB calls per invocation.
	targetTableSlowdown = 1.5
	targetTableCalls    = 2
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	coldRuns := fs.Int("cold-runs", 20, "cold starts measured per function (the median is shown)")
	records := fs.Int("records", 10000, "records in the bouncewatch batch and the triage storm")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	rows, err := bench(ctx, *coldRuns, *records, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sesguard bench:", err)
		return exitInvalid
	}
	fmt.Fprintf(stdout, "sesguard bench — %s/%s, %d CPUs, %s, %s\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(stdout, "| %-62s | %-28s | %-14s |\n|%s|%s|%s|\n", "measure", "value", "target", strings.Repeat("-", 64), strings.Repeat("-", 30), strings.Repeat("-", 16))
	ok := true
	for _, r := range rows {
		mark := ""
		if r.target != "" {
			mark = " ✓"
			if !r.ok {
				mark, ok = " ✗", false
			}
		}
		fmt.Fprintf(stdout, "| %-62s | %-28s | %-14s |\n", r.name, r.value, r.target+mark)
	}
	fmt.Fprintln(stdout, "\nreproduce: make bench   (go run ./cmd/sesguard bench)")
	if !ok {
		// A measurement, not a gate: the table says which targets are missed.
		fmt.Fprintln(stdout, "some targets are missed (✗)")
	}
	return exitOK
}

type benchRow struct {
	name, value, target string
	ok                  bool
}

func bench(ctx context.Context, coldRuns, records int, log io.Writer) ([]benchRow, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	var rows []benchRow
	add := func(name, value, target string, ok bool) { rows = append(rows, benchRow{name, value, target, ok}) }

	// 1. Rule set: go test benchmarks, one event per op, one core.
	fmt.Fprintln(log, "rule set benchmarks ...")
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^(BenchmarkDecodeOnly|BenchmarkDecode|BenchmarkClassify|BenchmarkClassifyDecoded|BenchmarkEmail)$",
		"-benchtime", "2s", "-cpu", "1", "-benchmem", "./pkg/ruleset")
	cmd.Dir = root
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ruleset benchmarks: %w\n%s", err, outb)
	}
	ns, allocs := map[string]float64{}, map[string]string{}
	re := regexp.MustCompile(`^(Benchmark\w+)\s+\d+\s+([\d.]+) ns/op(?:.*?\s(\d+) allocs/op)?`)
	sc := bufio.NewScanner(bytes.NewReader(outb))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			ns[m[1]], _ = strconv.ParseFloat(m[2], 64)
			allocs[m[1]] = m[3]
		}
	}
	if ns["BenchmarkClassify"] == 0 || ns["BenchmarkDecodeOnly"] == 0 {
		return nil, fmt.Errorf("ruleset benchmarks: no figures in\n%s", outb)
	}
	for _, b := range []struct{ name, label string }{
		{"BenchmarkDecodeOnly", "decode only (encoding/json)"}, {"BenchmarkDecode", "sesguard's own decode"},
		{"BenchmarkClassify", "decode + classify"}, {"BenchmarkClassifyDecoded", "classify decoded"},
	} {
		rate := 1e9 / ns[b.name]
		target, ok := "", true
		if b.name == "BenchmarkClassify" {
			// Issue 2: at least 100,000 SES bounce events per second on one core.
			target, ok = ">= 100000", rate >= 100000
		}
		add("rule set: "+b.label+" (events/s/core; ns/op, allocs/op)", fmt.Sprintf("%.0f (%.0f ns, %s allocs)", rate, ns[b.name], allocs[b.name]), target, ok)
	}
	if e := ns["BenchmarkEmail"]; e > 0 {
		// Issue 11: raw bounce emails (the corpus's .eml files) beside
		// go-sisimai's published figure of about 1,200 emails/s.
		rate := 1e9 / e
		add("rule set: raw emails decode + classify (emails/s/core; go-sisimai ~1,200)", fmt.Sprintf("%.0f (%.0f ns, %s allocs)", rate, e, allocs["BenchmarkEmail"]), ">= 1500", rate >= 1500)
	}
	ratio := ns["BenchmarkClassify"] / ns["BenchmarkDecodeOnly"]
	add("rule set: classify / decode-only time ratio", fmt.Sprintf("%.2fx", ratio), "<= 1.5x", ratio <= 1.5)
	if own := ns["BenchmarkDecode"]; own > 0 {
		add("rule set: classify / sesguard's own decode", fmt.Sprintf("%.2fx", ns["BenchmarkClassify"]/own), "", true)
	}

	// 2. Sizes: linux/arm64, stripped, as make build.
	fmt.Fprintln(log, "building bootstraps ...")
	arm, err := localstack.BuildBootstraps(ctx, root, "arm64", map[string]string{
		"TriageFunction": bootstrapPackages["TriageFunction"], "BouncewatchFunction": bootstrapPackages["BouncewatchFunction"]})
	if err != nil {
		return nil, err
	}
	for _, id := range []string{"TriageFunction", "BouncewatchFunction"} {
		fi, err := os.Stat(arm[id])
		if err != nil {
			return nil, err
		}
		mb := float64(fi.Size()) / (1 << 20)
		add("bootstrap size, "+id+" (linux/arm64, stripped)", fmt.Sprintf("%.1f MB", mb), fmt.Sprintf("<= %d MB", targetBootstrapMB), mb <= targetBootstrapMB)
	}

	// Host builds for running, and the Runtime Interface Emulator that
	// runs them.
	pkgs := map[string]string{"TriageFunction": bootstrapPackages["TriageFunction"], "BouncewatchFunction": bootstrapPackages["BouncewatchFunction"],
		"Hello": localstack.HelloPackage, "HelloSDK": "./internal/localstack/testdata/hellosdk"}
	bins, err := localstack.Build(ctx, root, pkgs)
	if err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	st, err := localstack.Up(ctx, localstack.Options{Template: tmpl, Facts: scenario.Facts(), Region: scenario.SendingRegion, RIE: bins[localstack.RIE],
		Bootstraps: map[string]string{"TriageFunction": bins["TriageFunction"], "BouncewatchFunction": bins["BouncewatchFunction"]}})
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		return nil, err
	}
	envOf := func(id string) map[string]string {
		env := map[string]string{}
		for k, v := range st.Functions[id].Env {
			env[k] = v
		}
		return env
	}
	helloEnv := envOf("TriageFunction") // the same Region, credentials and endpoints

	// 3. Cold start: the first invocation of a fresh emulator, which starts
	// the bootstrap then (as Lambda does), to its response: process start,
	// init, the Runtime API's /next, the handler, the response.
	fmt.Fprintln(log, "cold starts ...")
	triageEvent := sqsEvent([]string{snsEnvelope(`{"error":"Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: noreply@yourapp.com","region":"eu-west-1","from":"noreply@yourapp.com"}`)})
	coldN := 0
	cold := func(id, bin string, env map[string]string, payload []byte) (time.Duration, error) {
		var ds []time.Duration
		for range coldRuns {
			coldN++
			fn := st.AddFunction(fmt.Sprintf("cold-%s-%d", id, coldN), 30*time.Second, env)
			if err := fn.Start(bin, io.Discard); err != nil {
				return 0, err
			}
			inv, err := fn.Invoke(ctx, payload)
			fn.Stop()
			if err != nil {
				return 0, err
			}
			if inv.FunctionError != "" {
				return 0, fmt.Errorf("%s: function error: %s", id, inv.Payload)
			}
			ds = append(ds, inv.Duration)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2], nil
	}
	hello, err := cold("hello", bins["Hello"], helloEnv, []byte(`{}`))
	if err != nil {
		return nil, err
	}
	add("cold start: hello-world aws-lambda-go (median)", hello.Round(10*time.Microsecond).String(), "baseline", true)
	helloSDK, err := cold("hellosdk", bins["HelloSDK"], helloEnv, []byte(`{}`))
	if err != nil {
		return nil, err
	}
	add("cold start: hello-world + AWS SDK config and 4 clients (median)", fmt.Sprintf("%s (%.2fx)", helloSDK.Round(10*time.Microsecond), float64(helloSDK)/float64(hello)), "baseline", true)
	for _, c := range []struct {
		id      string
		payload []byte
	}{{"TriageFunction", triageEvent}, {"BouncewatchFunction", []byte(`{"action":"evaluate"}`)}} {
		d, err := cold(c.id, bins[c.id], envOf(c.id), c.payload)
		if err != nil {
			return nil, err
		}
		r := float64(d) / float64(hello)
		add(fmt.Sprintf("cold start: %s (median; x hello, x hello+SDK)", c.id), fmt.Sprintf("%s (%.2fx, %.2fx)", d.Round(10*time.Microsecond), r, float64(d)/float64(helloSDK)),
			fmt.Sprintf("<= %.1fx hello", targetColdRatio), r <= targetColdRatio)
	}

	// The same with an event that needs no AWS call (an SES Delivery event
	// for triage, an Open event for bouncewatch): start-up alone, which is
	// what the hello-world baselines measure.
	noop := `{"eventType":"Open","mail":{"messageId":"m-1","source":"noreply@yourapp.com","destination":["a@example.org"]},"open":{}}`
	for _, c := range []struct {
		id      string
		payload []byte
	}{{"TriageFunction", sqsEvent([]string{snsEnvelope(strings.Replace(noop, "Open", "Delivery", 1))})}, {"BouncewatchFunction", sqsEvent([]string{snsEnvelope(noop)})}} {
		d, err := cold(c.id, bins[c.id], envOf(c.id), c.payload)
		if err != nil {
			return nil, err
		}
		add(fmt.Sprintf("cold start, no AWS call: %s (x hello, x hello+SDK)", c.id),
			fmt.Sprintf("%s (%.2fx, %.2fx)", d.Round(10*time.Microsecond), float64(d)/float64(hello), float64(d)/float64(helloSDK)), "", true)
	}

	// 4. bouncewatch: records SES events from the SQS queue. Lambda hands
	// an SQS batch to a function in invocations of at most 6 MiB (a larger
	// event would not reach it), so the records arrive in invocations that
	// fit. Peak RSS depends on when the collector happens to run, so each
	// function gets the same invocations in memRuns fresh environments and
	// the median is shown, with the range.
	fmt.Fprintln(log, "bouncewatch batch ...")
	// The state table's calls (event claims: one TransactWriteItems per
	// 100 records) are counted at a proxy of their own, as CloudWatch's
	// (kumocw in front of kumo, its own endpoint in the local stack).
	dproxy, dcalls := ddbCountingProxy(st.Kumo.URL)
	defer dproxy.Close()
	proxy, calls := localstack.CountingProxy(st.Kumo.URL)
	defer proxy.Close()
	env := envOf("BouncewatchFunction")
	cproxy, ccalls := localstack.CountingProxy(env["AWS_ENDPOINT_URL_CLOUDWATCH"])
	defer cproxy.Close()
	env["AWS_ENDPOINT_URL"], env["AWS_ENDPOINT_URL_CLOUDWATCH"], env["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.URL, cproxy.URL, dproxy.URL
	day := scenario.Default(scenario.Options{Seed: 7})
	// Recent, as the local stack replays it: bouncewatch counts an event
	// in the minute SES stamped it, and one older than CloudWatch takes
	// in the minute it arrived (which would fold a day into one datum).
	localstack.MoveToRecent(day, time.Now())
	var bodies []string
	for _, e := range day.Events {
		if e.Topic == scenario.TopicSESEvents {
			bodies = append(bodies, snsEnvelope(e.Body()))
		}
		if len(bodies) == records {
			break
		}
	}
	batches := splitBatches(bodies, localstack.MaxPayload)
	batchRecords := make([]int64, len(batches))
	for i, p := range batches {
		var ev struct{ Records []json.RawMessage }
		_ = json.Unmarshal(p, &ev)
		batchRecords[i] = int64(len(ev.Records))
	}
	const memRuns = 5
	type memRun struct {
		rss             int64
		wall            time.Duration
		calls, perBatch int64
		// table: state table calls; tablePer100 the most in one
		// invocation per started 100 records.
		table       int64
		tablePer100 float64
	}
	ddb := dynamodb.NewFromConfig(st.AWS)
	runBatches := func(name, bin string, env map[string]string, warm []byte, check bool) (memRun, error) {
		if env[state.EnvTable] != "" {
			// A table of its own: the events a run claimed would be
			// duplicates in the next, which then counts nothing.
			env = maps.Clone(env)
			env[state.EnvTable] = name
			if err := state.CreateTable(ctx, ddb, name); err != nil {
				return memRun{}, err
			}
		}
		fn := st.AddFunction(name, 60*time.Second, env)
		if err := fn.Start(bin, io.Discard); err != nil {
			return memRun{}, err
		}
		defer fn.Stop()
		// Warm first: the cold start's own calls (bouncewatch loads the
		// Slack secret) are not the batch's.
		if _, err := fn.Invoke(ctx, warm); err != nil {
			return memRun{}, err
		}
		var r memRun
		for i, payload := range batches {
			before, tbefore := calls.Load()+ccalls.Load(), dcalls.snapshot().calls
			inv, err := fn.Invoke(ctx, payload)
			if err != nil {
				return r, err
			}
			if check && inv.FunctionError != "" {
				return r, fmt.Errorf("%s: %s", name, inv.Payload)
			}
			t := dcalls.snapshot().calls - tbefore
			n := calls.Load() + ccalls.Load() - before
			r.calls += n
			r.perBatch = max(r.perBatch, n)
			r.table += t
			r.tablePer100 = max(r.tablePer100, float64(t)/float64((batchRecords[i]+99)/100))
			r.wall += inv.Duration
		}
		var err error
		r.rss, err = localstack.PeakRSS(fn.PID())
		return r, err
	}
	var bw, hw []memRun
	for i := range memRuns {
		r, err := runBatches(fmt.Sprintf("bench-bouncewatch-%d", i), bins["BouncewatchFunction"], env, []byte(`{"action":"evaluate"}`), true)
		if err != nil {
			return nil, fmt.Errorf("bouncewatch batch: %w", err)
		}
		bw = append(bw, r)
		if r, err = runBatches(fmt.Sprintf("bench-hello-batch-%d", i), bins["Hello"], helloEnv, []byte(`{}`), false); err != nil {
			return nil, fmt.Errorf("hello-world batch: %w", err)
		}
		hw = append(hw, r)
	}
	median := func(runs []memRun) (mid memRun, lo, hi float64) {
		sorted := slices.Clone(runs)
		slices.SortFunc(sorted, func(a, b memRun) int { return cmp.Compare(a.rss, b.rss) })
		return sorted[len(sorted)/2], float64(sorted[0].rss) / (1 << 20), float64(sorted[len(sorted)-1].rss) / (1 << 20)
	}
	walls := make([]time.Duration, len(bw))
	for i, r := range bw {
		walls[i] = r.wall
	}
	slices.Sort(walls)
	add(fmt.Sprintf("bouncewatch: %d records in %d invocations (<= 6 MiB), wall (median)", len(bodies), len(batches)),
		walls[len(walls)/2].Round(time.Millisecond).String(), "", true)
	add("bouncewatch: AWS calls besides the state table (most in one invocation)", fmt.Sprintf("%d (%d)", bw[0].calls, bw[0].perBatch),
		fmt.Sprintf("<= %d per batch", targetBWCalls), bw[0].perBatch <= targetBWCalls)
	add("bouncewatch: state table calls (most in one invocation per 100 records)", fmt.Sprintf("%d (%.2f)", bw[0].table, bw[0].tablePer100),
		"<= 1 per 100", bw[0].tablePer100 <= 1)
	mid, lo, hi := median(bw)
	mb := float64(mid.rss) / (1 << 20)
	add(fmt.Sprintf("bouncewatch: peak RSS (median of %d environments; range)", memRuns), fmt.Sprintf("%.1f MB (%.1f-%.1f)", mb, lo, hi),
		fmt.Sprintf("<= %d MB", targetBWRSSMB), mb <= targetBWRSSMB)
	hmid, hlo, hhi := median(hw)
	add("hello-world given the same invocations: peak RSS (median; range)", fmt.Sprintf("%.1f MB (%.1f-%.1f)", float64(hmid.rss)/(1<<20), hlo, hhi), "baseline", true)

	storm, err := benchTriageStorm(ctx, st, bins["TriageFunction"], envOf("TriageFunction"), tmpl, records, log)
	if err != nil {
		return nil, err
	}
	return append(rows, storm...), nil
}

// benchTriageStorm is the bench's triage storm (rows of its table).
func benchTriageStorm(ctx context.Context, st *localstack.Stack, bin string, triageEnv map[string]string, tmpl []byte, records int, log io.Writer) ([]benchRow, error) {
	var rows []benchRow
	add := func(name, value, target string, ok bool) { rows = append(rows, benchRow{name, value, target, ok}) }
	// 5. triage: a storm of identical failures, one core, run twice in
	// fresh environments: without the state table (STATE_TABLE unset:
	// per-environment memory, the baseline) and with it (kumo's DynamoDB),
	// in this order, with the same records. Both runs get the storm as
	// Lambda's SQS poller hands it to triage under template.yaml: events of
	// the event source mapping's BatchSize. DynamoDB calls are counted at
	// a proxy of their own (AWS_ENDPOINT_URL_DYNAMODB), by operation.
	fmt.Fprintln(log, "triage storm ...")
	batchSize, err := triageBatchSize(tmpl)
	if err != nil {
		return nil, err
	}
	// Every run gets records of its own (new SNS MessageIds): the table
	// remembers the records a run claimed, and would skip them in the next.
	newStorm := func() ([][]byte, error) {
		storm := make([]string, records)
		for i := range storm {
			storm[i] = snsEnvelope(fmt.Sprintf(`{"error":"Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: noreply@yourapp.com","region":"eu-west-1","from":"noreply@yourapp.com","to":["user%05d@example.com"]}`, i))
		}
		var batches [][]byte
		for i := 0; i < len(storm); i += batchSize {
			b := sqsEvent(storm[i:min(i+batchSize, len(storm))])
			if len(b) > localstack.MaxPayload {
				return nil, fmt.Errorf("triage storm: a batch of %d records is %d bytes, over Lambda's %d", batchSize, len(b), localstack.MaxPayload)
			}
			batches = append(batches, b)
		}
		return batches, nil
	}
	type stormRun struct {
		wall       time.Duration
		calls, ses int64
		ddb        ddbCounts
		firstDDB   int64 // DynamoDB calls of the storm's first invocation
	}
	// runStorm runs the storm in a fresh environment. counted: the
	// function's calls go through counting proxies, which add a hop (and
	// the DynamoDB proxy decodes each request) that AWS does not have:
	// the runs that count are not the runs that are timed.
	runStorm := func(name string, table, counted bool) (stormRun, error) {
		var r stormRun
		batches, err := newStorm()
		if err != nil {
			return r, err
		}
		env := maps.Clone(triageEnv)
		env["GOMAXPROCS"] = "1"
		calls, sesCalls, cwCalls := &atomic.Int64{}, &atomic.Int64{}, &atomic.Int64{}
		dcalls := &ddbCounter{}
		dcalls.reset()
		if counted {
			tproxy, tcalls := localstack.CountingProxy(st.Kumo.URL)
			defer tproxy.Close()
			sproxy, scalls := localstack.CountingProxy(st.SESURL())
			defer sproxy.Close()
			dproxy, dc := ddbCountingProxy(st.Kumo.URL)
			defer dproxy.Close()
			cproxy, ccalls := localstack.CountingProxy(env["AWS_ENDPOINT_URL_CLOUDWATCH"])
			defer cproxy.Close()
			env["AWS_ENDPOINT_URL"], env["AWS_ENDPOINT_URL_SESV2"], env["AWS_ENDPOINT_URL_DYNAMODB"], env["AWS_ENDPOINT_URL_CLOUDWATCH"] = tproxy.URL, sproxy.URL, dproxy.URL, cproxy.URL
			calls, sesCalls, cwCalls, dcalls = tcalls, scalls, ccalls, dc
		}
		if !table {
			delete(env, state.EnvTable)
		} else if env[state.EnvTable] == "" {
			return r, fmt.Errorf("%s: the local stack gave triage no %s", name, state.EnvTable)
		}
		tf := st.AddFunction(name, 120*time.Second, env)
		if err := tf.Start(bin, io.Discard); err != nil {
			return r, err
		}
		defer tf.Stop()
		if _, err := tf.Invoke(ctx, sqsEvent([]string{snsEnvelope(`{"eventType":"Delivery","mail":{"source":"a@b.example","destination":["c@d.example"]},"delivery":{}}`)})); err != nil {
			return r, err
		}
		before, sbefore := calls.Load()+cwCalls.Load(), sesCalls.Load()
		dcalls.reset()
		for i, payload := range batches {
			inv, err := tf.Invoke(ctx, payload)
			if err != nil {
				return r, err
			}
			if inv.FunctionError != "" {
				return r, fmt.Errorf("%s: %s", name, inv.Payload)
			}
			if failed := batchItemFailures(inv.Payload); failed > 0 {
				return r, fmt.Errorf("%s: invocation %d reported %d of its records failed: %s", name, i, failed, inv.Payload)
			}
			r.wall += inv.Duration
			if i == 0 {
				r.firstDDB = dcalls.snapshot().calls
			}
		}
		r.ddb = dcalls.snapshot()
		if counted && table {
			// An update is billed by its item's size, which its request
			// need not show: read the items back (beside the function).
			if err := r.ddb.chargeStored(ctx, dynamodb.NewFromConfig(st.AWS)); err != nil {
				return r, fmt.Errorf("%s: %w", name, err)
			}
		}
		r.calls, r.ses = calls.Load()+cwCalls.Load()-before+sesCalls.Load()-sbefore+r.ddb.calls, sesCalls.Load()-sbefore
		return r, nil
	}
	mem, err := runStorm("bench-triage-memory", false, true)
	if err != nil {
		return nil, fmt.Errorf("triage storm without the table: %w", err)
	}
	tbl, err := runStorm("bench-triage-table", true, true)
	if err != nil {
		return nil, fmt.Errorf("triage storm with the table: %w", err)
	}
	// Timed: without and with the table, alternately, stormTimings times
	// each; the median of the pairs' ratios (a shared machine's noise
	// hits a pair's two runs alike more often than two distant runs).
	const stormTimings = 3
	var memWalls, tblWalls []time.Duration
	var ratios []float64
	for i := range stormTimings {
		m, err := runStorm(fmt.Sprintf("bench-triage-memory-timed-%d", i), false, false)
		if err != nil {
			return nil, fmt.Errorf("triage storm without the table: %w", err)
		}
		t, err := runStorm(fmt.Sprintf("bench-triage-table-timed-%d", i), true, false)
		if err != nil {
			return nil, fmt.Errorf("triage storm with the table: %w", err)
		}
		memWalls, tblWalls, ratios = append(memWalls, m.wall), append(tblWalls, t.wall), append(ratios, t.wall.Seconds()/m.wall.Seconds())
	}
	slices.Sort(memWalls)
	slices.Sort(tblWalls)
	slices.Sort(ratios)
	memWall, tblWall, slow := memWalls[stormTimings/2], tblWalls[stormTimings/2], ratios[stormTimings/2]
	invs := records / batchSize
	memRate, tblRate := float64(records)/memWall.Seconds(), float64(records)/tblWall.Seconds()
	add(fmt.Sprintf("triage: %d-failure storm in %d invocations of %d (template BatchSize), records/s (GOMAXPROCS=1; median of %d)", records, invs, batchSize, stormTimings), fmt.Sprintf("%.0f (%s)", memRate, memWall.Round(time.Millisecond)),
		fmt.Sprintf(">= %d", targetTriageRate), memRate >= targetTriageRate)
	add("triage: AWS calls for the storm (per invocation)", fmt.Sprintf("%d (%.2f; SES v2 %d)", mem.calls, float64(mem.calls)/float64(invs), mem.ses), "", true)
	add(fmt.Sprintf("triage storm with the state table (kumo DynamoDB), records/s (x slower: median of %d pairs; range)", stormTimings),
		fmt.Sprintf("%.0f (%s, %.2fx; %.2f-%.2f)", tblRate, tblWall.Round(time.Millisecond), slow, ratios[0], ratios[stormTimings-1]),
		fmt.Sprintf("<= %.1fx", targetTableSlowdown), slow <= targetTableSlowdown)
	perInv := float64(tbl.ddb.calls) / float64(invs)
	rest := float64(tbl.ddb.calls-tbl.firstDDB) / float64(max(invs-1, 1))
	// The target is the state's calls per invocation. A cold environment's
	// first invocation also reads the account facts its failures need from
	// the shared cache (one BatchGetItem, in place of its own SES look-ups:
	// the shared facts are issue 10's other requirement), once per
	// environment and facts TTL, not per invocation.
	add("triage storm with the table: DynamoDB calls (per invocation; first; per later one)", fmt.Sprintf("%d (%.3f; %d; %.3f)", tbl.ddb.calls, perInv, tbl.firstDDB, rest),
		fmt.Sprintf("<= %d per inv. (+1 cold)", targetTableCalls), rest <= targetTableCalls && tbl.firstDDB <= targetTableCalls+1)
	add("  by operation (largest item written, bytes as DynamoDB sizes items)", tbl.ddb.String(), "", true)
	add("  write request units (per record; per started KB of the item, updates' as stored, transactional x2; upper bound)",
		fmt.Sprintf("%d (%.3f; %d for items larger than their updates)", tbl.ddb.wru(), float64(tbl.ddb.wru())/float64(records), tbl.ddb.storedUnits), "", true)
	add("  read request units (per record; 4 KB strongly consistent, transactional x2)", fmt.Sprintf("%d (%.4f)", tbl.ddb.rru(), float64(tbl.ddb.rru())/float64(records)), "", true)
	return rows, nil
}

// triageBatchSize is the BatchSize of triage's SQS event source in
// template.yaml (as internal/stack reads it, defaults included).
func triageBatchSize(tmpl []byte) (int, error) {
	t, err := stack.Parse(tmpl)
	if err != nil {
		return 0, err
	}
	for _, qs := range t.QueueSources() {
		if qs.Function == "TriageFunction" && qs.BatchSize > 0 {
			return qs.BatchSize, nil
		}
	}
	return 0, errors.New("template.yaml: TriageFunction has no SQS event source with a BatchSize")
}

// batchItemFailures counts the batch item failures in an SQS invocation's
// response (a record failed transiently would come back: the storm must
// not rely on that).
func batchItemFailures(payload []byte) int {
	var resp events.SQSEventResponse
	if json.Unmarshal(payload, &resp) != nil {
		return 0
	}
	return len(resp.BatchItemFailures)
}

// splitBatches packs SQS message bodies into SQS events of at most limit
// bytes each, in order, as Lambda's SQS poller caps a batch's payload.
func splitBatches(bodies []string, limit int) [][]byte {
	var out [][]byte
	for start := 0; start < len(bodies); {
		// Grow the batch while it fits; the event's size is measured, not
		// estimated, since JSON escaping makes it depend on the bodies.
		n := len(bodies) - start
		ev := sqsEvent(bodies[start : start+n])
		for len(ev) > limit && n > 1 {
			n = max(1, n*limit/len(ev)*95/100)
			ev = sqsEvent(bodies[start : start+n])
		}
		out = append(out, ev)
		start += n
	}
	return out
}

var envelopeSeq atomic.Int64

func snsEnvelope(msg string) string {
	// MessageId is triage's idempotency key: unique per envelope (the
	// clock alone may repeat within a storm's construction).
	b, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": fmt.Sprintf("bench-%x-%d", time.Now().UnixNano(), envelopeSeq.Add(1)),
		"TopicArn": "arn:aws:sns:us-east-1:000000000000:sesguard-SesEventsTopic", "Message": msg, "Timestamp": "2026-03-02T12:00:00.000Z"})
	return string(b)
}

func sqsEvent(bodies []string) []byte {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(bodies))}
	for i, b := range bodies {
		ev.Records[i] = events.SQSMessage{MessageId: fmt.Sprintf("m-%d", i), Body: b, EventSource: "aws:sqs", AWSRegion: "us-east-1"}
	}
	data, _ := json.Marshal(ev)
	return data
}
