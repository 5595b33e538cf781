package localstack

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/scenario"
)

// TestMoveToRecent: the default day moves to end within the day before
// now, by whole days (times of day kept), in the events' times and in
// every timestamp of their messages, whatever its form; other strings,
// escaped ones and plain error text stay as they were. A second move does
// nothing.
func TestMoveToRecent(t *testing.T) {
	now := time.Date(2026, 12, 5, 5, 9, 0, 0, time.UTC)
	sc := &scenario.Scenario{
		Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC),
		Events: []scenario.Event{
			{Time: time.Date(2026, 3, 2, 14, 30, 5, 0, time.UTC), Topic: scenario.TopicSESEvents, Message: json.RawMessage(
				`{"eventType":"Bounce","bounce":{"timestamp":"2026-03-02T15:10:00.123Z"},"mail":{"timestamp":"2026-03-02T14:30:05 +0000","messageId":"2026-03-02T14:30:05Z-not\"a-time","tags":{"note":["2026-03-02"]}}}`)},
			{Time: time.Date(2026, 3, 2, 23, 59, 0, 0, time.UTC), Topic: scenario.TopicSendFailures, Message: json.RawMessage(
				`"Message rejected at 2026-03-02T23:59:00Z: Email address is not verified."`)},
			{Time: time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC), Topic: scenario.TopicSESEvents, Message: json.RawMessage(
				`{"eventType":"Send","mail":{"timestamp":"2026-03-02T22:00:00-05:00"}}`)},
		},
	}
	days := MoveToRecent(sc, now)
	if days != 277 {
		t.Errorf("moved %d days, want 277", days)
	}
	if want := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC); !sc.End.Equal(want) || !sc.Start.Equal(want.Add(-24*time.Hour)) {
		t.Errorf("moved to %s - %s, want the day ending %s", sc.Start, sc.End, want)
	}
	if want := time.Date(2026, 12, 4, 14, 30, 5, 0, time.UTC); !sc.Events[0].Time.Equal(want) {
		t.Errorf("event time %s, want %s", sc.Events[0].Time, want)
	}
	for i, want := range []string{
		`{"eventType":"Bounce","bounce":{"timestamp":"2026-12-04T15:10:00.123Z"},"mail":{"timestamp":"2026-12-04T14:30:05 +0000","messageId":"2026-03-02T14:30:05Z-not\"a-time","tags":{"note":["2026-03-02"]}}}`,
		`"Message rejected at 2026-03-02T23:59:00Z: Email address is not verified."`,
		`{"eventType":"Send","mail":{"timestamp":"2026-12-04T22:00:00-05:00"}}`,
	} {
		if got := string(sc.Events[i].Message); got != want {
			t.Errorf("message %d:\n got %s\nwant %s", i, got, want)
		}
	}
	if again := MoveToRecent(sc, now); again != 0 {
		t.Errorf("a second move moved %d days", again)
	}
}

func TestDaysToRecent(t *testing.T) {
	now := time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		end  time.Time
		want int
	}{
		{now, 0},
		{now.Add(-time.Hour), 0},
		{now.Add(-24 * time.Hour), 1},
		{now.Add(-49 * time.Hour), 2},
		{now.Add(time.Hour), -1},
		{now.Add(24 * time.Hour), -1},
		{now.Add(25 * time.Hour), -2},
	} {
		got := daysToRecent(tc.end, now)
		if got != tc.want {
			t.Errorf("daysToRecent(now%+v) = %d, want %d", tc.end.Sub(now), got, tc.want)
		}
		if end := tc.end.AddDate(0, 0, got); end.After(now) || !end.After(now.Add(-24*time.Hour)) {
			t.Errorf("end now%+v moved %d days is now%+v: not within the day before now", tc.end.Sub(now), got, end.Sub(now))
		}
	}
}
