package main

import (
	"strings"
	"testing"
)

// TestFixStepsPaste: what a person copies from a fix step works when
// pasted: commands after "$ ", continued with \ only between words, never
// inside a <placeholder> or a quoted string; placeholders quoted; a
// configuration-file line on its own, without "$ ".
func TestFixStepsPaste(t *testing.T) {
	for _, tc := range []struct {
		name, step string
		want, not  []string
	}{
		{"placeholder quoted and whole",
			"Request production access: `aws sesv2 put-account-details --production-access-enabled --mail-type TRANSACTIONAL --website-url https://<your site> --use-case-description \"<how you send the mail from this account>\" --region us-east-1`",
			[]string{`"https://<your site>"`, `"<how you send the mail from this account>"`, "$ aws sesv2 put-account-details"},
			[]string{"<your \\", "how you \\"}},
		{"configuration line without prompt",
			"Set in main.cf: `sender_canonical_maps = static:noreply@<your verified domain>` and reload",
			[]string{"    sender_canonical_maps = static:noreply@<your verified domain>\n"},
			[]string{"$ sender_canonical_maps", "\\\n"}},
		{"postfix command is a command",
			"Then `postfix reload`",
			[]string{"$ postfix reload"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeStep(&b, "  1. ", tc.step)
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("has %q:\n%s", n, out)
				}
			}
			for _, line := range strings.Split(out, "\n") {
				if len([]rune(line)) > width {
					t.Errorf("line over %d columns: %q", width, line)
				}
			}
		})
	}
}
