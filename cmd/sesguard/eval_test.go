package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

func TestEvalLabels(t *testing.T) {
	dir := t.TempDir()
	labels := `{"input": "` + notVerified + `", "expect": "reject.sender-unverified", "accept": ["reject.sandbox-recipient-unverified"]}
# a comment line
{"input": "{\"notificationType\":\"Delivery\",\"mail\":{}}", "expect": "not-a-failure"}
{"input": "{\"notificationType\":\"Delivery\",\"mail\":{}}", "expect": "bounce.hard.general"}
`
	p := filepath.Join(dir, "labels.jsonl")
	if err := os.WriteFile(p, []byte(labels), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "eval", "--labels", p, "--min", "60")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"accuracy: 66.7% (2 of 3 cases)", "bounce.hard.general → not-a-failure: 1", "family confusion matrix"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runCLI(t, "", "eval", "--labels", p, "--min", "90"); code != exitInvalid {
		t.Errorf("accuracy under --min: exit %d, want %d", code, exitInvalid)
	}
}

func TestEvalBadLabel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "labels.jsonl")
	if err := os.WriteFile(p, []byte("{\"input\": \"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "", "eval", p)
	if code != exitUsage || !strings.Contains(errOut, `labels.jsonl:1: field "expect" is missing`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestEvalProjectCorpus(t *testing.T) {
	code, out, errOut := runCLI(t, "", "eval", "--corpus", filepath.Join("..", "..", "pkg", "ruleset", "testdata", "corpus"))
	if code != exitOK || !strings.Contains(out, "by expected family:") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
}

// A JSON-lines input of any size is read line by line: nothing is cut,
// and only a line over the stated limit is refused, saying which.
func TestClassifyJSONLinesStream(t *testing.T) {
	ev := `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"a@example.com","status":"5.1.1"}]},"mail":{"source":"s@example.org"}}`
	var b strings.Builder
	for range 3000 {
		b.WriteString(ev + "\n")
	}
	b.WriteString(`{"x":"` + strings.Repeat("a", ruleset.MaxInputBytes) + "\"}\n")
	for range 3000 {
		b.WriteString(ev + "\n")
	}
	p := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "", "classify", "--json", p)
	ds := decodeLines(t, out)
	if code != exitInvalid || len(ds) != 6001 {
		t.Fatalf("exit %d, %d diagnoses, want %d and 6001", code, len(ds), exitInvalid)
	}
	bad := 0
	for _, d := range ds {
		if d.Rule == ruleset.RuleInvalid {
			bad++
			if d.Source != p+":3001" || !strings.Contains(d.Error, "line 3001 is longer than 1048576 bytes") {
				t.Errorf("bad line reported as %+v", d)
			}
		} else if d.Rule != "bounce.hard.no-such-user" {
			t.Fatalf("line diagnosed %s", d.Rule)
		}
	}
	if bad != 1 {
		t.Errorf("%d invalid lines, want 1", bad)
	}
}

const mboxBounce = `From MAILER-DAEMON Thu Oct  6 01:12:41 2011
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: sender@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; gone@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown in virtual mailbox table

--B--

From bob@example.net Thu Oct  6 01:12:42 2011
From: Bob <bob@example.net>
To: sender@example.org
Subject: Auto: Out of Office
Auto-Submitted: auto-replied

I am away until Monday.
`

func TestClassifyMboxAndMaildir(t *testing.T) {
	dir := t.TempDir()
	mbox := filepath.Join(dir, "bounces.mbox")
	if err := os.WriteFile(mbox, []byte(mboxBounce), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "classify", "--json", mbox)
	ds := decodeLines(t, out)
	if code != exitOK || len(ds) != 2 || ds[0].Rule != "bounce.hard.no-such-user" || ds[0].Identity != "gone@example.net" || ds[1].Rule != ruleset.RuleNotAFailure {
		t.Fatalf("mbox: exit %d %s: %+v", code, errOut, ds)
	}
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	first := mboxBounce[strings.Index(mboxBounce, "\n")+1 : strings.Index(mboxBounce, "\n\nFrom bob")]
	for _, p := range []string{"cur/1.eml", "new/2.eml", "tmp/3.eml"} {
		if err := os.WriteFile(filepath.Join(md, p), []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = runCLI(t, "", "classify", "--json", md)
	ds = decodeLines(t, out)
	if code != exitOK || len(ds) != 2 {
		t.Fatalf("maildir: exit %d, %+v (tmp/ must be skipped)", code, ds)
	}
	for _, d := range ds {
		if d.Rule != "bounce.hard.no-such-user" {
			t.Errorf("maildir: %+v", d)
		}
	}
}

// TestClassifyFileMatchesLibrary: reading a file through classify's
// streaming reader gives what the library gives for the file's bytes, for
// every corpus case (JSON, text and raw email).
func TestClassifyFileMatchesLibrary(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "pkg", "ruleset", "testdata", "corpus", "*", "*"))
	set := ruleset.Default()
	n := 0
	for _, p := range paths {
		ext := filepath.Ext(p)
		if ext != ".eml" && ext != ".txt" && ext != ".json" || strings.HasSuffix(p, ".facts.json") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n++
		want := classifyInput(set, data, nil, p)
		_, out, _ := runCLI(t, "", "classify", "--json", p)
		got := decodeLines(t, out)
		if len(got) != len(want) {
			t.Errorf("%s: classify gives %d diagnoses, the library %d", p, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i].Rule != want[i].Rule || got[i].Identity != want[i].Identity {
				t.Errorf("%s[%d]: classify %s %s, library %s %s", p, i, got[i].Rule, got[i].Identity, want[i].Rule, want[i].Identity)
			}
		}
	}
	if n < 300 {
		t.Errorf("only %d corpus files", n)
	}
}
