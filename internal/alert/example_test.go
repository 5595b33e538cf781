package alert_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
)

// A storm of identical failures yields one alert at once and, after the
// window, one more carrying the count of the rest.
func ExampleAggregator() {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	show := alert.SinkFunc(func(_ context.Context, a alert.Alert) error {
		fmt.Println(a.Subject())
		return nil
	})
	g := alert.NewAggregator(show, alert.AggregatorOptions{Now: func() time.Time { return now }})

	a := alert.Alert{Kind: alert.KindDiagnosis, Level: alert.LevelCritical, Rule: "reject.region-mismatch",
		Identity: "noreply@yourapp.com", Region: "us-east-1", Title: "Sender not verified in us-east-1"}
	ctx := context.Background()
	for range 500 {
		_ = g.Send(ctx, a) // end of one invocation's batch
	}
	_ = g.Flush(ctx) // window still open: nothing
	now = now.Add(alert.DefaultWindow)
	_ = g.Flush(ctx) // a later invocation: the window has closed
	// Output:
	// [critical] Sender not verified in us-east-1
	// [critical x499] Sender not verified in us-east-1
}

func ExampleRenderText() {
	fmt.Print(alert.RenderText(alert.Alert{
		Kind: alert.KindRate, Level: alert.LevelOK, Title: "Bounce rate back to 0.8%",
		Region: "us-east-1", Figures: []alert.Figure{alert.Num("rate", 0.008, "0.80%"), {Name: "sample", Value: "12,034 sends"}},
		Source: "sesguard-bouncewatch",
	}))
	// Output:
	// ✅ Bounce rate back to 0.8%
	// OK · rate
	//
	// Region: us-east-1
	// rate: 0.80%
	// sample: 12,034 sends
	//
	// sesguard-bouncewatch
}
