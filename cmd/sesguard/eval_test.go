package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
