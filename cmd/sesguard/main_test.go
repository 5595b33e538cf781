package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/testkit"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

const notVerified = "Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: noreply@yourapp.com"

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func decodeLines(t *testing.T, out string) []ruleset.Diagnosis {
	t.Helper()
	var ds []ruleset.Diagnosis
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d ruleset.Diagnosis
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		ds = append(ds, d)
	}
	return ds
}

func TestClassifyJSONStdin(t *testing.T) {
	code, out, _ := runCLI(t, notVerified, "classify", "--json", "-")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	ds := decodeLines(t, out)
	if len(ds) != 1 || !strings.HasPrefix(ds[0].Rule, "reject.") || ds[0].Region != "us-east-1" || ds[0].Source != "stdin" {
		t.Fatalf("got %+v", ds)
	}
	// The JSON is exactly the Diagnosis contract: no Go-only fields leak.
	var raw map[string]any
	_ = json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &raw)
	for k := range raw {
		switch k {
		case "rule", "severity", "summary", "identity", "region", "evidence", "fix", "confidence", "alternatives", "source", "error":
		default:
			t.Errorf("unexpected key %q in JSON output", k)
		}
	}
}

func TestClassifyWithFactsRanksRegionMismatchFirst(t *testing.T) {
	code, out, _ := runCLI(t, notVerified, "classify", "--json", "--facts", filepath.Join("testdata", "verified-us-west-2.facts.json"), "-")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if ds := decodeLines(t, out); ds[0].Rule != "reject.region-mismatch" {
		t.Fatalf("rule %s, want reject.region-mismatch", ds[0].Rule)
	}
}

func TestClassifyInvalidInputExitOneRestPrinted(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(bad, []byte(`{"Records": [`), 0o644)
	os.WriteFile(good, []byte(notVerified), 0o644)
	code, out, _ := runCLI(t, "", "classify", "--json", bad, good)
	if code != exitInvalid {
		t.Errorf("exit %d, want %d", code, exitInvalid)
	}
	ds := decodeLines(t, out)
	if len(ds) != 2 || ds[0].Rule != ruleset.RuleInvalid || ds[0].Error == "" || ds[0].Source != bad || !strings.HasPrefix(ds[1].Rule, "reject.") {
		t.Fatalf("got %+v", ds)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"classify", "--bogus"}, {"diagnose"}, {"classify", "--rules", "/does/not/exist"}} {
		if code, _, _ := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestDiagnoseReadableIn80Columns(t *testing.T) {
	code, out, _ := runCLI(t, "", "diagnose", "--from", "noreply@yourapp.com", "--to", "bob@customer.org", notVerified+", bob@customer.org")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	for _, want := range []string{"Likely cause: reject.", "Why:", "Fix:", "$ aws sesv2", "--region us-east-1", "check next"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Two failing identities, two diagnoses; the recipient is a sandbox case.
	if strings.Count(out, "Likely cause:") != 2 || !strings.Contains(out, "reject.sandbox-recipient-unverified") {
		t.Errorf("want one diagnosis per identity:\n%s", out)
	}
}

func TestDiagnoseFlagsAfterText(t *testing.T) {
	code, out, _ := runCLI(t, "", "diagnose", notVerified, "--facts", filepath.Join("testdata", "verified-us-west-2.facts.json"))
	if code != exitOK || !strings.Contains(out, "Likely cause: reject.region-mismatch") || !strings.Contains(out, "verified in us-west-2") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestExtraRulesFlag(t *testing.T) {
	rules := filepath.Join("..", "..", "pkg", "ruleset", "testdata", "rules", "good-extra.yaml")
	in := `{"eventType":"Bounce","mail":{"destination":["a@acme.example"]},"bounce":{"bounceType":"Transient","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"a@acme.example","diagnosticCode":"ACME mail shield: come back later"}]}}`
	code, out, _ := runCLI(t, in, "classify", "--json", "--rules", rules)
	if code != exitOK || decodeLines(t, out)[0].Rule != "bounce.policy.acme-greylist" {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestClassifyJSONLines(t *testing.T) {
	lines := `{"error":"` + notVerified + `","from":"noreply@yourapp.com"}
{"eventType":"Bounce","mail":{"destination":["gone@example.org"]},"bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"gone@example.org","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]}}
{"truncated":
`
	code, out, _ := runCLI(t, lines, "classify", "--json", "-")
	if code != exitInvalid {
		t.Errorf("exit %d, want %d (line 3 is invalid)", code, exitInvalid)
	}
	ds := decodeLines(t, out)
	if len(ds) != 3 || !strings.HasPrefix(ds[0].Rule, "reject.") || ds[1].Rule != "bounce.hard.no-such-user" || ds[2].Rule != ruleset.RuleInvalid {
		t.Fatalf("got %+v", ds)
	}
	if ds[1].Source != "stdin:2" || ds[2].Source != "stdin:3" {
		t.Errorf("sources %q %q, want stdin:2 stdin:3", ds[1].Source, ds[2].Source)
	}
}

// TestFactsAndLiveAgainstEmulator runs `facts` and `diagnose --live` with
// the default credential chain pointed at kumo by AWS_ENDPOINT_URL, as a
// user's shell would be pointed at AWS. kumo has no GetAccount, so sandbox
// status comes back unknown; identities come from kumo's SES v2.
func TestFactsAndLiveAgainstEmulator(t *testing.T) {
	cfg := testkit.Kumo(t)
	t.Setenv("AWS_ENDPOINT_URL", aws.ToString(cfg.BaseEndpoint))
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	domain := testkit.Unique("cli") + ".example"
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(domain)}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "", "facts", "--region", "us-east-1", "noreply@"+domain)
	if code != exitOK {
		t.Fatalf("facts: exit %d: %s", code, errOut)
	}
	f, err := ruleset.ParseFacts([]byte(out))
	if err != nil {
		t.Fatalf("facts printed no facts JSON: %v\n%s", err, out)
	}
	rf := f.Regions["us-east-1"]
	if f.SendingRegion != "us-east-1" || rf == nil || rf.Identities == nil {
		t.Fatalf("facts: %s", out)
	}
	if _, ok := rf.Identities[domain]; !ok {
		t.Errorf("the domain identity created in the emulator is missing: %s", out)
	}

	code, out, errOut = runCLI(t, "", "diagnose", "--live", "--from", "noreply@"+domain,
		"Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: noreply@"+domain)
	if code != exitOK || !strings.Contains(out, "Likely cause: reject.") {
		t.Fatalf("diagnose --live: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "Ranked without account facts") {
		t.Errorf("--live must rank with the facts it gathered:\n%s", out)
	}
}
