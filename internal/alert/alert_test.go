package alert

import (
	"strings"
	"testing"
)

func TestSubjectText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Bounce rate 4.2%", "Bounce rate 4.2%"},
		{"newlines and tabs collapse", "line one\r\n\tline two", "line one line two"},
		{"typographic runes fold", "Region mismatch — “noreply” … ok", `Region mismatch - "noreply" ... ok`},
		{"other non-ASCII", "café 日本", "caf? ??"},
		{"control chars dropped", "a\x00b\x1bc\x7f", "abc"},
		{"leading space trimmed", "  \n x", "x"},
		{"empty", " \n ", "sesguard alert"},
		{"invalid utf8", "a\xffb", "a?b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SubjectText(tc.in); got != tc.want {
				t.Errorf("SubjectText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSubjectTextTruncates(t *testing.T) {
	got := SubjectText(strings.Repeat("é", 300) + strings.Repeat("ab ", 100))
	if len(got) != MaxSubjectLen || !strings.HasSuffix(got, "...") {
		t.Fatalf("len %d, %q", len(got), got)
	}
	for _, r := range got {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("non-printable-ASCII rune %q in %q", r, got)
		}
	}
}

func TestAlertSubject(t *testing.T) {
	a := Alert{Level: LevelCritical, Title: "Region mismatch for noreply@yourapp.com"}
	if got, want := a.Subject(), "[critical] Region mismatch for noreply@yourapp.com"; got != want {
		t.Errorf("Subject() = %q, want %q", got, want)
	}
	a.Count = 37
	if got, want := a.Subject(), "[critical x37] Region mismatch for noreply@yourapp.com"; got != want {
		t.Errorf("Subject() = %q, want %q", got, want)
	}
}

func TestAllLevelsValid(t *testing.T) {
	for _, l := range AllLevels {
		if !l.Valid() {
			t.Errorf("%q not valid", l)
		}
		if _, ok := levelEmoji[l]; !ok {
			t.Errorf("level %q has no emoji", l)
		}
	}
	if Level("urgent").Valid() {
		t.Error(`"urgent" is valid`)
	}
}
