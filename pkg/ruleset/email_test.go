package ruleset_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

type emailCase struct {
	name, dir string
	data      []byte
	want      []string // rule per failed recipient (.expect), or the directory's
}

func loadEmails(t testing.TB) []emailCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []emailCase
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Base(filepath.Dir(p))
		c := emailCase{name: dir + "/" + filepath.Base(p), dir: dir, data: data, want: []string{dir}}
		if exp, err := os.ReadFile(strings.TrimSuffix(p, ".eml") + ".expect"); err == nil {
			c.want = nil
			for _, l := range strings.Split(string(exp), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					c.want = append(c.want, l)
				}
			}
		}
		cases = append(cases, c)
	}
	return cases
}

func family(rule string) string {
	f, _, _ := strings.Cut(rule, ".")
	return f
}

// TestEmailCorpus reads every raw email of the corpus: one diagnosis per
// failed recipient, each of the right family, naming a recipient the report
// gives, never the sender, a Message-ID or a header address of the bounce.
// (The exact rule is scored by `make accuracy`: ranking is the rules' job.)
func TestEmailCorpus(t *testing.T) {
	set := ruleset.Default()
	cases := loadEmails(t)
	if len(cases) < 60 {
		t.Errorf("%d raw emails in the corpus, want at least 60", len(cases))
	}
	exact := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := ruleset.Decode(c.data, c.name)
			if len(dec) != 1 || dec[0].Err != nil {
				t.Fatalf("decoded as %d records, first error %v", len(dec), dec[0].Err)
			}
			got := set.ClassifyDecoded(dec[0], nil)
			if len(got) != len(c.want) {
				t.Fatalf("%d diagnoses, want %d: %+v", len(got), len(c.want), got)
			}
			for i, d := range got {
				if family(d.Rule) != family(c.want[i]) {
					t.Errorf("diagnosis %d: %s, want the %s family (%s)", i, d.Rule, family(c.want[i]), c.want[i])
				}
				if d.Rule == c.want[i] {
					exact++
				}
				if c.dir == ruleset.RuleNotAFailure {
					continue
				}
				id := strings.ToLower(d.Identity)
				if strings.Contains(c.name, "redacted") {
					continue
				}
				if id == "" || !bytes.Contains(c.data, []byte("base64")) && !bytes.Contains(bytes.ToLower(c.data), []byte(id)) {
					t.Errorf("diagnosis %d: identity %q is not an address of the email", i, d.Identity)
				}
				for _, never := range []string{"shop.example.com", "mailer-daemon", "postmaster", "amazonses.com>", "email.amazonses.com"} {
					if strings.Contains(id, never) {
						t.Errorf("diagnosis %d: identity %q is a header address or Message-ID, not the failed recipient", i, d.Identity)
					}
				}
			}
		})
	}
	t.Logf("%d emails; exact rule on %d diagnoses (see make accuracy)", len(cases), exact)
}

// TestEmailOriginalHeaders: the original message's headers give the
// sender, SES's messageId, the configuration set and the Region.
func TestEmailOriginalHeaders(t *testing.T) {
	for _, tc := range []struct{ file, region, msgID string }{
		{"bounce.soft.mailbox-full/email-ses-forward-mailbox-full-eu.eml", "eu-west-1", "0102018f9040639a-7fd2e1a3-81c6-4b79-a759-0b1f5759d114-000000"},
		{"bounce.hard.no-such-user/email-ses-forward-user-unknown.eml", "us-east-1", "0100018f9040639a-9040639a-81c6-b797-5759-0b1f5759d113-000000"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "corpus", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		f := ruleset.Decode(data, tc.file)[0].Failure
		if f == nil || f.Region != tc.region || f.MessageID != tc.msgID || f.ConfigurationSet != "marketing-prod" || f.From != "notify@shop.example.com" {
			t.Errorf("%s: %+v", tc.file, f)
		}
		if f != nil && (len(f.Recipients) != 1 || f.Recipients[0].Action != "failed" || f.BounceType == "") {
			t.Errorf("%s: recipients %+v, bounceType %q", tc.file, f.Recipients, f.BounceType)
		}
	}
}

// TestEmailCharsets: legacy charsets and transfer encodings decode to the
// words the rules look for; 8-bit junk and a NUL are tolerated.
func TestEmailCharsets(t *testing.T) {
	for file, want := range map[string]string{
		"bounce.hard.no-such-user/email-jp-ezweb-iso2022jp.eml":              "ユーザーが見つかりません",
		"bounce.hard.no-such-user/email-jp-docomo-shiftjis.eml":              "宛先不明",
		"bounce.hard.no-such-user/email-ru-koi8r-user-not-found.eml":         "Пользователь не найден",
		"bounce.soft.mailbox-full/email-ru-cp1251-mailbox-full.eml":          "ящик переполнен",
		"bounce.hard.no-such-user/email-zh-gb2312-user-not-exist.eml":        "用户不存在",
		"bounce.hard.no-such-user/email-de-latin1-qp-benutzer-unbekannt.eml": "Empfängeradresse",
		"bounce.hard.no-such-user/email-postfix-8bit-junk-nul.eml":           "User unknown in local recipient table",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "corpus", file))
		if err != nil {
			t.Fatal(err)
		}
		d := ruleset.Decode(data, file)[0]
		if d.Err != nil || d.Failure == nil || len(d.Failure.Recipients) != 1 {
			t.Errorf("%s: %+v", file, d)
			continue
		}
		if diag := d.Failure.Recipients[0].DiagnosticCode; !strings.Contains(diag, want) {
			t.Errorf("%s: diagnostic %q lacks %q", file, diag, want)
		}
	}
}

// TestEmailReceivedNotification: SES receiving publishes the raw email in
// "content", UTF-8 or Base64; triage reads the bounce inside.
func TestEmailReceivedNotification(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "events", "received-sns-bounce-email.json"))
	if err != nil {
		t.Fatal(err)
	}
	set := ruleset.Default()
	got := set.ClassifyBytes(sample, nil, "sample")
	if len(got) != 1 || got[0].Rule != "bounce.hard.no-such-user" || got[0].Identity != "zoe@example.com" || got[0].Region != "us-east-1" {
		t.Fatalf("events sample: %+v", got)
	}
	var ev struct {
		Records []struct{ Sns struct{ Message string } }
	}
	if err := json.Unmarshal(sample, &ev); err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal([]byte(ev.Records[0].Sns.Message), &msg); err != nil {
		t.Fatal(err)
	}
	msg["content"] = base64.StdEncoding.EncodeToString([]byte(msg["content"].(string)))
	msg["receipt"].(map[string]any)["action"].(map[string]any)["encoding"] = "BASE64"
	b64, _ := json.Marshal(msg)
	if got := set.ClassifyBytes(b64, nil, "b64"); len(got) != 1 || got[0].Rule != "bounce.hard.no-such-user" {
		t.Fatalf("Base64 content: %+v", got)
	}
	msg["content"] = "not base64 !!"
	bad, _ := json.Marshal(msg)
	if got := set.ClassifyBytes(bad, nil, "bad"); len(got) != 1 || got[0].Rule != ruleset.RuleInvalid || !strings.Contains(got[0].Error, `field "content" is not Base64`) {
		t.Fatalf("bad Base64: %+v", got)
	}
	delete(msg, "content")
	none, _ := json.Marshal(msg)
	if got := set.ClassifyBytes(none, nil, "none"); len(got) != 1 || got[0].Rule != ruleset.RuleInvalid || !strings.Contains(got[0].Error, `"content" is missing`) {
		t.Fatalf("no content: %+v", got)
	}
}

// TestEmailNestingBounded: deeply nested messages and parts end at the
// depth cap, without running away.
func TestEmailNestingBounded(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "From: a@b.example\nSubject: Undelivered\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\nContent-Type: message/rfc822\n\n", i, i)
	}
	b.WriteString("From: x@y.example\n\nbody <gone@example.org> 550 5.1.1 user unknown\n")
	got := ruleset.Decode([]byte(b.String()), "deep")
	if len(got) != 1 {
		t.Fatalf("%d records", len(got))
	}
	many := "From: MAILER-DAEMON@m.example\nSubject: failure notice\nContent-Type: multipart/mixed; boundary=\"x\"\n\n" + strings.Repeat("--x\nContent-Type: text/plain\n\nuser@example.org: 550 5.1.1 user unknown\n", 20000) + "--x--\n"
	got = ruleset.Decode([]byte(many), "wide")
	if len(got) != 1 || got[0].Failure == nil || len(got[0].Failure.Recipients) != 1 {
		t.Fatalf("wide: %+v", got)
	}
}

// FuzzEmail feeds arbitrary bytes after an email header through Decode:
// no panic, one record per message, bounded recipients and diagnoses.
func FuzzEmail(f *testing.F) {
	for _, c := range loadEmails(f) {
		f.Add(c.data)
	}
	f.Add([]byte("From: MAILER-DAEMON@x\nSubject: failure notice\n\n<a@b.c>:\n550 5.1.1 no\n"))
	set := ruleset.Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Make most inputs emails: a header block in front.
		in := append([]byte("From: MAILER-DAEMON@example.net\nSubject: Undelivered Mail\n"), data...)
		dec := ruleset.Decode(in, "fuzz")
		if len(dec) != 1 {
			t.Fatalf("%d records for one email", len(dec))
		}
		if f := dec[0].Failure; f != nil && len(f.Recipients) > len(in)/3+1 {
			t.Fatalf("%d recipients from %d bytes", len(f.Recipients), len(in))
		}
		got := set.ClassifyDecoded(dec[0], nil)
		if len(got) == 0 || len(got) > len(in)/3+1 {
			t.Fatalf("%d diagnoses from %d bytes", len(got), len(in))
		}
		for _, d := range got {
			if d.Rule == "" || d.Rule == ruleset.RuleInvalid && d.Error == "" {
				t.Fatalf("bad diagnosis %+v", d)
			}
		}
	})
}

// BenchmarkEmail measures raw emails decoded and classified per second on
// one core (go-sisimai publishes about 1,200 emails/s for its decoder).
func BenchmarkEmail(b *testing.B) {
	cases := loadEmails(b)
	set := ruleset.Default()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		c := cases[n%len(cases)]
		n++
		for _, d := range ruleset.Decode(c.data, c.name) {
			_ = set.ClassifyDecoded(d, nil)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "emails/s")
}

// emailShapes are the worst shapes for the email reader: many recipient
// blocks, many addresses in the text, many MIME parts, long folded
// headers. Each is grown to about n bytes.
func emailShapes(n int) map[string][]byte {
	grow := func(head, unit, tail string) []byte {
		var b strings.Builder
		b.WriteString(head)
		for i := 0; b.Len() < n; i++ {
			b.WriteString(strings.ReplaceAll(unit, "N", fmt.Sprint(i)))
		}
		b.WriteString(tail)
		return []byte(b.String())
	}
	return map[string][]byte{
		"dsn-recipients": grow("From: MAILER-DAEMON@m.example\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nfailed\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; m.example\n\n",
			"Final-Recipient: rfc822; uN@example.org\nAction: failed\nStatus: 5.0.0\n\n", "--b--\n"),
		"text-addresses": grow("From: MAILER-DAEMON@m.example\nSubject: failure notice\n\n", "<uN@example.org>: a@b.example c@d.example said no\n", ""),
		"parts":          grow("From: MAILER-DAEMON@m.example\nContent-Type: multipart/mixed; boundary=\"x\"\n\n", "--x\nContent-Type: text/plain\n\nuN@example.org: 550 5.1.1 user unknown\n", "--x--\n"),
		"folded-header":  grow("From: MAILER-DAEMON@m.example\nSubject: failure", "\n notice uN@example.org", "\n\n<u@example.org>: 550 5.1.1 user unknown\n"),
	}
}

// BenchmarkEmailScaling times the worst shapes at 128 KiB and 1 MiB: the
// ratio of the two per shape is about 8 when parsing is linear (compare
// the ns/op of the pair; a quadratic reader shows 64).
func BenchmarkEmailScaling(b *testing.B) {
	set := ruleset.Default()
	for _, size := range []int{128 << 10, 1 << 20} {
		for name, data := range emailShapes(size) {
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					for _, d := range ruleset.Decode(data, "scale") {
						_ = set.ClassifyDecoded(d, nil)
					}
				}
			})
		}
	}
}

// TestDSNBlock: a delivery-status block pasted on its own is a bounce per
// recipient; text that merely has a Status: line is not.
func TestDSNBlock(t *testing.T) {
	block := "Final-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 4.2.2\nDiagnostic-Code: smtp; 452 4.2.2 Mailbox full\n"
	d := ruleset.Decode([]byte(block), "block")
	if len(d) != 1 || d[0].Failure == nil || d[0].Failure.Kind != ruleset.KindBounce || d[0].Failure.BounceType != "Transient" ||
		len(d[0].Failure.Recipients) != 1 || d[0].Failure.Recipients[0].Address != "bob@example.org" {
		t.Fatalf("block: %+v", d)
	}
	d = ruleset.Decode([]byte("Final-Recipient: rfc822; bob@example.org\nAction: delayed\nStatus: 4.4.1\n"), "delayed")
	if len(d) != 1 || d[0].Failure == nil || d[0].Failure.Kind != ruleset.KindDelay || d[0].Failure.DelayType != "TransientCommunicationFailure" {
		t.Fatalf("delayed block: %+v", d)
	}
	// Recipient blocks run together without a blank line (AOL does this).
	joined := "Reporting-MTA: dns; omr.example.com\nFinal-Recipient: rfc822; a@example.jp\nOriginal-Recipient: rfc822;a@example.jp\nAction: failed\nStatus: 5.2.2\n" +
		"Original-Recipient: rfc822;b@example.jp\nFinal-Recipient: rfc822; b@example.jp\nAction: failed\nStatus: 5.1.1\n"
	d = ruleset.Decode([]byte(joined), "joined")
	if len(d) != 1 || d[0].Failure == nil || len(d[0].Failure.Recipients) != 2 || d[0].Failure.Recipients[1].Address != "b@example.jp" || d[0].Failure.Recipients[1].Status != "5.1.1" {
		t.Fatalf("joined blocks: %+v", d)
	}
	d = ruleset.Decode([]byte("Status: failed\nMessage rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: a@b.com"), "text")
	if len(d) != 1 || d[0].Failure == nil || d[0].Failure.Kind != ruleset.KindSendError {
		t.Fatalf("text with a Status line: %+v", d)
	}
}
