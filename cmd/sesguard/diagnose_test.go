package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// TestDiagnoseAgreesWithClassify: `diagnose TEXT` and `classify FILE`
// with the same text reach the same first rule, for every text case of
// the corpus and the texts issue 11 quotes; neither refuses what the
// other classifies.
func TestDiagnoseAgreesWithClassify(t *testing.T) {
	texts := []string{
		"550 5.1.1 <bob@example.org>... User unknown",
		"452 4.2.2 The email account that you tried to reach is over quota.",
		"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
		"552 5.2.2 <user@libsisimai.net>: Recipient address rejected: Mailbox full",
		"552 sorry, mailbox user@example.org is over quota temporarily (#5.1.1)",
		"Message rejected:",
		"InvalidClientTokenId: The security token included in the request is invalid.",
		"hello world, this is not an error report",
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "pkg", "ruleset", "testdata", "corpus", "*", "*.txt"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
	}
	if len(texts) < 40 {
		t.Fatalf("only %d texts", len(texts))
	}
	dir := t.TempDir()
	for i, text := range texts {
		path := filepath.Join(dir, "in.txt")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, out, _ := runCLI(t, "", "classify", "--json", path)
		c := decodeLines(t, out)[0]
		_, hout, _ := runCLI(t, "", "diagnose", text)
		var got string
		switch first := strings.SplitN(hout, "\n", 2)[0]; {
		case strings.HasPrefix(first, "Likely cause: "):
			got = strings.Fields(strings.TrimPrefix(first, "Likely cause: "))[0]
		case strings.HasPrefix(first, "No diagnosis"):
			got = ruleset.RuleUnknown
		case strings.HasPrefix(first, "Cannot read"):
			got = ruleset.RuleInvalid
		}
		if got != c.Rule {
			t.Errorf("text %d %.60q: classify %s, diagnose %s", i, text, c.Rule, got)
		}
	}
}
