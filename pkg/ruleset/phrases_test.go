package ruleset

import (
	"math/rand"
	"strings"
	"testing"
)

// TestPhraseMatcherAgreesWithContains checks the automaton against the
// obvious implementation on random texts built from overlapping phrases.
func TestPhraseMatcherAgreesWithContains(t *testing.T) {
	phrases := []string{"user unknown", "unknown", "known user", "no such user", "such", "mailbox full", "box", "x", "ünbekannt", "存在しません", "5.1.1", "1.1", "he", "she", "his", "hers"}
	m := newPhraseMatcher(phrases)
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"user ", "unknown ", "known ", "no such ", "mailbox full", "he", "she", "rs", "5.1.1 ", "ünbekannt", "存在しません", "x", " ", "q"}
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for j := rng.Intn(12); j > 0; j-- {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		text := b.String()
		found := make([]uint64, m.words())
		m.match(text, found)
		for id, p := range phrases {
			if got, want := has(found, int32(id)), strings.Contains(text, p); got != want {
				t.Fatalf("text %q phrase %q: matcher %v, Contains %v", text, p, got, want)
			}
		}
	}
}

func TestStatusMatches(t *testing.T) {
	cases := []struct {
		status, prefix string
		want           bool
	}{
		{"5.1.1", "5.1.1", true}, {"5.1.10", "5.1.1", false}, {"5.1.10", "5.1", true}, {"5.7.26", "5.7", true},
		{"5.7.26", "5.7.2", false}, {"4.2.2", "x.2.2", true}, {"5.2.2", "x.2.2", true}, {"5.2.20", "x.2.2", false},
		{"4.4.1", "4", true}, {"5.4.1", "4", false}, {"", "5", false}, {"5", "x.1", false},
	}
	for _, c := range cases {
		if got := statusMatches(c.status, c.prefix); got != c.want {
			t.Errorf("statusMatches(%q, %q) = %v, want %v", c.status, c.prefix, got, c.want)
		}
	}
}
