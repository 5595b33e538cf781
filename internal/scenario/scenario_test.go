package scenario

import (
	"slices"
	"strings"
	"testing"
)

func TestReadJSONLinesRefusesHugeSpan(t *testing.T) {
	in := `{"time":"1990-01-01T00:00:00Z","message":{"error":"Message rejected: Email address is not verified."}}
{"time":"2026-03-02T00:00:00Z","message":{"error":"Message rejected: Email address is not verified."}}
`
	_, err := ReadJSONLines(strings.NewReader(in), "events.jsonl")
	if err == nil || !strings.Contains(err.Error(), "events.jsonl") || !strings.Contains(err.Error(), "days") {
		t.Fatalf("ReadJSONLines over 36 years: err = %v, want one naming the file and the span", err)
	}
}

func TestReadJSONLinesNamesTheBadLine(t *testing.T) {
	in := `{"eventType":"Bounce","mail":{"timestamp":"2026-03-02T10:00:00Z"}}

{"topic":"elsewhere","message":{}}
`
	_, err := ReadJSONLines(strings.NewReader(in), "events.jsonl")
	if err == nil || !strings.Contains(err.Error(), "events.jsonl line 3") {
		t.Fatalf("err = %v, want it to name events.jsonl line 3", err)
	}
}

func TestDefaultIsReproducibleBySeed(t *testing.T) {
	a, b := Default(Options{Seed: 3, Short: true}), Default(Options{Seed: 3, Short: true})
	if len(a.Events) == 0 || len(a.Events) != len(b.Events) {
		t.Fatalf("seed 3 gave %d and %d events", len(a.Events), len(b.Events))
	}
	for i := range a.Events {
		if a.Events[i].Body() != b.Events[i].Body() || !a.Events[i].Time.Equal(b.Events[i].Time) {
			t.Fatalf("event %d differs between two runs with seed 3", i)
		}
	}
	if c := Default(Options{Seed: 4, Short: true}); len(c.Events) == len(a.Events) {
		same := true
		for i := range a.Events {
			if a.Events[i].Body() != c.Events[i].Body() {
				same = false
				break
			}
		}
		if same {
			t.Error("seeds 3 and 4 gave the same events")
		}
	}
}

func TestReadJSONLinesPlainTextAndNonObjects(t *testing.T) {
	sc, err := ReadJSONLines(strings.NewReader(`"Message rejected: Email address is not verified."`+"\n"), "events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Events) != 1 || sc.Events[0].Topic != TopicSendFailures || sc.Events[0].Body() != "Message rejected: Email address is not verified." {
		t.Errorf("a JSON string line gave %+v, want plain text on %s", sc.Events, TopicSendFailures)
	}
	_, err = ReadJSONLines(strings.NewReader("[1, 2]\n"), "events.jsonl")
	if err == nil || !strings.Contains(err.Error(), "events.jsonl line 1: want a JSON object") {
		t.Errorf("an array line: err = %v, want it to say what a line must be", err)
	}
}

// The auto-pause story is the same day with the newsletter in a
// configuration set of its own: the same events, only their set differs.
func TestNewsletterConfigurationSet(t *testing.T) {
	a := Default(Options{Seed: 1, Short: true})
	b := Default(Options{Seed: 1, Short: true, NewsletterConfigurationSet: true})
	if len(a.Events) != len(b.Events) {
		t.Fatalf("%d events, %d with the newsletter's set", len(a.Events), len(b.Events))
	}
	if !slices.Equal(b.ConfigurationSets, []string{ConfigurationSet, ConfigurationSetNews}) {
		t.Errorf("configuration sets %q", b.ConfigurationSets)
	}
	tag := func(set string) string { return `"ses:configuration-set":["` + set + `"]` }
	news, app := 0, 0
	for i := range a.Events {
		ab, bb := a.Events[i].Body(), b.Events[i].Body()
		if strings.Contains(ab, `"source":"`+SenderNews+`"`) {
			news++
			if !strings.Contains(bb, tag(ConfigurationSetNews)) || ab != strings.Replace(bb, tag(ConfigurationSetNews), tag(ConfigurationSet), 1) {
				t.Fatalf("event %d: a newsletter event not moved to %s, or changed otherwise:\n%s\n%s", i, ConfigurationSetNews, ab, bb)
			}
			continue
		}
		if strings.Contains(ab, `"source":"`+SenderApp+`"`) && strings.Contains(ab, tag(ConfigurationSet)) {
			app++
		}
		if ab != bb {
			t.Fatalf("event %d: not a newsletter event, yet it differs:\n%s\n%s", i, ab, bb)
		}
	}
	if news == 0 || app == 0 {
		t.Errorf("%d newsletter and %d transactional events", news, app)
	}
}

// Suppressible finds exactly the addresses the story expects suppressed.
func TestSuppressible(t *testing.T) {
	sc := Default(Options{Seed: 2, Short: true})
	seen := map[string]bool{}
	for _, e := range sc.Events {
		for _, a := range Suppressible(e) {
			seen[a] = true
		}
	}
	if len(seen) != sc.Expect.Suppressions || len(seen) == 0 {
		t.Errorf("Suppressible found %d addresses, the story expects %d", len(seen), sc.Expect.Suppressions)
	}
}
