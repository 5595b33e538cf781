package state

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
)

// bodyAlert is an alert of the bench storm's size (about 1.4 KB of JSON).
func bodyAlert() alert.Alert {
	conf := 0.27
	return alert.Alert{Kind: alert.KindDiagnosis, Level: alert.LevelCritical, Title: "reject.region-mismatch: noreply@yourapp.com (eu-west-1)",
		Rule: "reject.region-mismatch", Identity: "noreply@yourapp.com", Region: "eu-west-1", Scope: "account", Count: 1,
		Time: time.Date(2026, 3, 2, 9, 0, 1, 123456789, time.UTC), Source: "sesguard-triage",
		Summary:  "If noreply@yourapp.com is verified in another Region but not in eu-west-1 (SES identities are per Region) — check with `aws sesv2 get-email-identity --email-identity noreply@yourapp.com --region eu-west-1` here and in the Region you verified it in.",
		Evidence: []string{`text contains "email address is not verified"`, "account facts unknown: ranked by base rates; check with `sesguard diagnose --live` or `aws sesv2 get-account --region eu-west-1`"},
		Fix: []string{"Send through the Region where the identity is verified (SDK region / SMTP endpoint email-smtp.<verifiedRegion>.amazonaws.com), or verify it in eu-west-1: `aws sesv2 create-email-identity --email-identity noreply@yourapp.com --region eu-west-1`",
			"Compare: `aws sesv2 get-email-identity --email-identity noreply@yourapp.com --region \"<verifiedRegion>\"` and `aws sesv2 get-email-identity --email-identity noreply@yourapp.com --region eu-west-1`"},
		Figures: []alert.Figure{{Name: "confidence", Value: "0.27", Number: &conf}, {Name: "account facts", Value: "unknown"},
			{Name: "alternatives", Value: "reject.sender-unverified (0.23), reject.verification-pending (0.09), reject.identity-case-mismatch (0.05)"}},
	}
}

func deflated(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte(bodyDeflated)
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBodyForms: a body is written deflated, read back equal, and an old
// plain JSON body reads as well.
func TestBodyForms(t *testing.T) {
	a := bodyAlert()
	js, _ := json.Marshal(a)
	enc, err := encodeBody(a)
	if err != nil {
		t.Fatal(err)
	}
	if enc[0] != bodyDeflated || len(enc) >= len(js)/2 {
		t.Errorf("stored body is %d bytes starting 0x%02x; want deflated (0x%02x), under half of its %d bytes of JSON", len(enc), enc[0], bodyDeflated, len(js))
	}
	t.Logf("alert: %d bytes of JSON, %d stored", len(js), len(enc))
	for name, b := range map[string][]byte{"deflated": enc, "plain JSON": js} {
		got, err := decodeBody(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, _ := json.Marshal(got)
		if !bytes.Equal(back, js) {
			t.Errorf("%s: read back\n%s\nwant\n%s", name, back, js)
		}
	}
}

// TestBodyGarbage: whatever a window's latest holds, reading it returns an
// error naming what is wrong, never a panic or a huge allocation.
func TestBodyGarbage(t *testing.T) {
	enc, _ := encodeBody(bodyAlert())
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"empty":             {nil, "empty"},
		"unknown encoding":  {[]byte("\x7fELF"), "unknown encoding 0x7f"},
		"not deflate":       {append([]byte{bodyDeflated}, "\xff\xff\xff not deflate"...), "does not inflate"},
		"truncated":         {enc[:len(enc)/2], "does not inflate"},
		"marker alone":      {[]byte{bodyDeflated}, "does not inflate"},
		"bomb":              {deflated(t, make([]byte, 1<<20)), "inflates past"},
		"deflated, no JSON": {deflated(t, []byte("hello")), "not an alert"},
		"JSON, no alert":    {[]byte(`{"count":"many"}`), "not an alert"},
		"JSON cut short":    {[]byte(`{"kind":"diagnosis","ru`), "not an alert"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeBody(c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("decodeBody = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// FuzzDecodeBody: no input makes decodeBody panic; what it accepts it
// accepts again once encoded (go test runs the seeds).
func FuzzDecodeBody(f *testing.F) {
	enc, _ := encodeBody(bodyAlert())
	js, _ := json.Marshal(bodyAlert())
	for _, s := range [][]byte{enc, js, enc[:7], {bodyDeflated}, {}, []byte("{}")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeBody(b)
		if err != nil {
			return
		}
		again, err := encodeBody(a)
		if err != nil {
			return // e.g. a figure that JSON cannot hold
		}
		if _, err := decodeBody(again); err != nil {
			t.Errorf("an alert read from %q does not read back once encoded: %v", b, err)
		}
	})
}

// TestKeyAlert: a summary whose body cannot be read is announced from its
// key, which must make the same key again.
func TestKeyAlert(t *testing.T) {
	src := bodyAlert()
	a, ok := keyAlert(src.Key())
	if !ok || a.Key() != src.Key() || a.Title != "reject.region-mismatch: noreply@yourapp.com (eu-west-1)" {
		t.Errorf("keyAlert(%q) = %+v, %v", src.Key(), a, ok)
	}
	if _, ok := keyAlert("no separators"); ok {
		t.Error("keyAlert accepted a key that no alert makes")
	}
}

func TestItemSizeRules(t *testing.T) {
	for _, c := range []struct {
		n    string
		want int
	}{{"0", 1}, {"7", 2}, {"12", 2}, {"123", 3}, {"1000", 2}, {"-0.0012", 2}, {"1772441999123", 8}, {"1.5e10", 2}} {
		if got := numberSize(c.n); got != c.want {
			t.Errorf("numberSize(%s) = %d, want %d", c.n, got, c.want)
		}
	}
}

// BenchmarkEncodeBody: the CPU a window body costs to write, per alert,
// at bodyLevel and at the level not chosen; and to read.
func BenchmarkEncodeBody(b *testing.B) {
	a := bodyAlert()
	js, _ := json.Marshal(a)
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(a)
		}
	})
	b.Run("deflate", func(b *testing.B) {
		var n int
		for b.Loop() {
			enc, _ := encodeBody(a)
			n = len(enc)
		}
		b.ReportMetric(float64(n), "bytes")
	})
	b.Run("bestspeed", func(b *testing.B) {
		w, _ := flate.NewWriter(nil, flate.BestSpeed)
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			buf.WriteByte(bodyDeflated)
			js, _ := json.Marshal(a)
			w.Reset(&buf)
			w.Write(js)
			w.Close()
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	enc, _ := encodeBody(a)
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			decodeBody(enc)
		}
	})
	b.Run("decode-plain", func(b *testing.B) {
		for b.Loop() {
			decodeBody(js)
		}
	})
}
