package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/testkit"
	"github.com/sesguard/sesguard/internal/triage"
)

var creds = credentials.NewStaticCredentialsProvider("test", "test", "")

// buildBootstraps builds the triage bootstrap and the hello-world baseline
// the way `make build-TriageFunction` does (localstack.BuildBootstraps:
// the Makefile's flags, once per test run), for linux and the host's
// architecture so that they run here.
func buildBootstraps(t *testing.T) (triageBin, helloBin string) {
	t.Helper()
	bins, err := localstack.BuildBootstraps(t.Context(), filepath.Join("..", ".."), runtime.GOARCH,
		map[string]string{"triage": "./functions/triage", "hello": localstack.HelloPackage})
	if err != nil {
		t.Fatal(err)
	}
	return bins["triage"], bins["hello"]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// lambdaAPI calls kumo's Lambda API with SigV4-signed requests (kumo
// routes the Lambda REST API by the signing name).
type lambdaAPI struct{ base string }

func (l lambdaAPI) do(t *testing.T, method, path string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, l.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	c, _ := creds.Retrieve(t.Context())
	if err := v4.NewSigner().SignHTTP(t.Context(), c, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (l lambdaAPI) createFunction(t *testing.T, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"FunctionName": name, "Runtime": "provided.al2023", "Handler": "bootstrap",
		"Role": "arn:aws:iam::000000000000:role/sesguard-triage", "Timeout": 30,
		"Architectures": []string{"arm64"}, "Code": map[string]any{"ZipFile": []byte("bootstrap")},
	})
	resp, b := l.do(t, http.MethodPost, "/2015-03-31/functions", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateFunction %s: %s %s", name, resp.Status, b)
	}
}

// invoke runs one RequestResponse invocation and returns the payload and
// the X-Amz-Function-Error header.
//
// kumo answers 502 "no runtime handler" until the bootstrap has polled
// .../invocation/next once, so a freshly started process is retried every
// millisecond until it is up (that wait is part of its cold start).
func (l lambdaAPI) invoke(t *testing.T, name string, payload []byte) ([]byte, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, b := l.do(t, http.MethodPost, "/2015-03-31/functions/"+url.PathEscape(name)+"/invocations", payload)
		if resp.StatusCode == http.StatusBadGateway && bytes.Contains(b, []byte("no runtime handler")) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Invoke %s: %s %s", name, resp.Status, b)
		}
		return b, resp.Header.Get("X-Amz-Function-Error")
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a bootstrap against kumo's Runtime API for function fn.
func start(t *testing.T, bin, kumoURL, fn string, extraEnv ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	host := strings.TrimPrefix(kumoURL, "http://")
	cmd := exec.Command(bin)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + host + "/_runtime/" + fn,
		"AWS_LAMBDA_FUNCTION_NAME=" + fn,
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL=" + kumoURL,
		// kumo cannot read gzip request bodies (PutMetricData).
		"AWS_DISABLE_REQUEST_COMPRESSION=true",
		"AWS_EC2_METADATA_DISABLED=true",
	}, extraEnv...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, out
}

// TestBootstrapEndToEnd builds the real bootstrap and drives it through
// kumo's Lambda Runtime API with every payload in events/triage-*.json, its
// SDK clients pointed at kumo by AWS_ENDPOINT_URL. It also measures the
// cold start (process start to first response) against a hello-world
// aws-lambda-go bootstrap built the same way.
func TestBootstrapEndToEnd(t *testing.T) {
	triageBin, helloBin := buildBootstraps(t)
	t.Logf("bootstrap sizes (linux/%s, -s -w): triage %.1f MiB, hello %.1f MiB", runtime.GOARCH,
		float64(fileSize(t, triageBin))/(1<<20), float64(fileSize(t, helloBin))/(1<<20))

	srv := kumo.NewServer()
	// A cleanup, not a defer: it must run after the bootstraps (whose
	// long polls hold connections open) are killed by their cleanups.
	t.Cleanup(srv.Close)
	api := lambdaAPI{base: srv.URL}
	ctx := t.Context()
	awsCfg := aws.Config{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(srv.URL)}

	// The alerts topic, read back through an SQS subscription.
	tap := testkit.NewTap(t, awsCfg, "e2e-alerts")

	ns := testkit.Unique("SESGuardE2E")
	env := []string{
		alert.EnvAlertsTopicARN + "=" + tap.TopicARN,
		"METRICS_NAMESPACE=" + ns,
		triage.EnvCandidateRegions + "=us-west-2",
	}

	// Cold starts: a fresh function and process each, once (the medians
	// of many are `make bench`'s, on the local stack).
	coldStart := func(bin, name string) time.Duration {
		fn := testkit.Unique(name + "-cold")
		api.createFunction(t, fn)
		payload := []byte(`{"hello":"world"}`)
		switch name {
		case "triage":
			payload, _ = os.ReadFile("../../events/triage-sns-sandbox-reject.json")
		case "triage-noop":
			// Not a failure: no look-ups, alerts or metrics, so this
			// measures start-up alone.
			payload = []byte(`{"Records":[{"EventSource":"aws:sns","Sns":{"Type":"SubscriptionConfirmation","MessageId":"c","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"confirm"}}]}`)
		}
		t0 := time.Now()
		_, out := start(t, bin, srv.URL, fn, env...)
		body, fnErr := api.invoke(t, fn, payload)
		d := time.Since(t0)
		if fnErr != "" {
			t.Fatalf("%s: function error %s: %s\n%s", fn, fnErr, body, out)
		}
		return d
	}
	hello, triageCold, noop := coldStart(helloBin, "hello"), coldStart(triageBin, "triage"), coldStart(triageBin, "triage-noop")
	t.Logf("cold start, process start to first response: triage with a sandbox reject %s, triage with a no-op %s, hello %s",
		triageCold.Round(100*time.Microsecond), noop.Round(100*time.Microsecond), hello.Round(100*time.Microsecond))
	readAlerts(t, tap) // drop the cold-start runs' alerts

	// Every sample payload through one warm process.
	fn := testkit.Unique("sesguard-triage")
	api.createFunction(t, fn)
	_, logs := start(t, triageBin, srv.URL, fn, env...)
	files, _ := filepath.Glob("../../events/triage-*.json")
	if len(files) < 18 {
		t.Fatalf("found %d triage event files, want 18", len(files))
	}
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, fnErr := api.invoke(t, fn, payload)
		if fnErr != "" {
			t.Errorf("%s: function error %s: %s", filepath.Base(f), fnErr, body)
			continue
		}
		if strings.Contains(f, "-sqs-") {
			var r struct {
				BatchItemFailures []struct{ ItemIdentifier string } `json:"batchItemFailures"`
			}
			if err := json.Unmarshal(body, &r); err != nil || r.BatchItemFailures == nil || len(r.BatchItemFailures) != 0 {
				t.Errorf("%s: response %s, want an SQS batch response without failures", filepath.Base(f), body)
			}
		} else if string(body) != "null" {
			t.Errorf("%s: response %s, want null", filepath.Base(f), body)
		}
	}

	// Alerts reached the topic: each sample's warning or critical rule
	// once (SNS and SQS copies of a sample share a storm window).
	alerts := readAlerts(t, tap)
	var rules []string
	for _, a := range alerts {
		rules = append(rules, a.Rule)
	}
	sort.Strings(rules)
	for _, want := range []string{"bounce.hard.no-such-user", "bounce.policy.blocklisted", "complaint.abuse",
		"reject.envelope-sender-rewritten", "reject.rendering-failure"} {
		if !slices.Contains(rules, want) {
			t.Errorf("no %s alert on the topic; got %q", want, rules)
		}
	}
	if len(alerts) < 7 || len(alerts) > 8 {
		t.Errorf("%d alerts on the topic, want 7 or 8 (one per announced sample): %q", len(alerts), rules)
	}

	// Metrics: both malformed samples counted as poison.
	cw := cloudwatch.NewFromConfig(awsCfg)
	now := time.Now()
	out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{
			{Id: aws.String("p"), MetricStat: &cwtypes.MetricStat{Period: aws.Int32(300), Stat: aws.String("Sum"),
				Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String("PoisonRecords"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("Function"), Value: aws.String("triage")}}}}},
			{Id: aws.String("b"), MetricStat: &cwtypes.MetricStat{Period: aws.Int32(300), Stat: aws.String("Sum"),
				Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String("Failures"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("Rule"), Value: aws.String("bounce.hard.no-such-user")}, {Name: aws.String("Region"), Value: aws.String("us-east-1")}}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for _, r := range out.MetricDataResults {
		for _, v := range r.Values {
			sums[aws.ToString(r.Id)] += v
		}
	}
	if sums["p"] != 2 || sums["b"] != 2 {
		t.Errorf("metrics read back %v, want p (PoisonRecords) = 2 and b (hard bounces) = 2", sums)
	}

	l := logs.String()
	if !strings.Contains(l, `"poison record acknowledged"`) || !strings.Contains(l, `"classified"`) {
		t.Errorf("bootstrap logs lack the expected JSON lines:\n%s", l)
	}
	for _, addr := range []string{"jane.doe@example.com", "customer@example.org"} {
		if strings.Contains(l, addr) {
			t.Errorf("bootstrap logs carry the full address %s", addr)
		}
	}
}

func readAlerts(t *testing.T, tap *testkit.Tap) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, body := range tap.Drain(t) {
		var env struct{ Message string }
		var a alert.Alert
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(env.Message), &a); err != nil {
			t.Fatalf("alert JSON: %v", err)
		}
		out = append(out, a)
	}
	return out
}
