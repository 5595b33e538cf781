package bouncewatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

// AutoPause is what bouncewatch does when a watched configuration set's
// rate is critical (template parameter AutoPause, EnvAutoPause).
type AutoPause string

// AutoPause modes.
const (
	AutoPauseOff    AutoPause = "off"     // never pause (the default)
	AutoPauseDryRun AutoPause = "dry-run" // announce "would pause" with the evidence, do nothing
	AutoPauseOn     AutoPause = "on"      // pause the configuration set
)

// AutoPauseModes lists every AutoPause, as the template's AllowedValues.
var AutoPauseModes = []AutoPause{AutoPauseOff, AutoPauseDryRun, AutoPauseOn}

// EnvAutoPause names the variable holding the AutoPause mode.
const EnvAutoPause = "AUTO_PAUSE"

// PauseAction is the one IAM action auto-pause needs, granted on the
// watched configuration set's ARN and only when AutoPause is on.
const PauseAction = "ses:PutConfigurationSetSendingOptions"

// PauseRecord is what a pause (or would-pause, or refusal) records in the
// RecordStore under pauseKey: who, why, the rates and sample, when.
type PauseRecord struct {
	ConfigurationSet string    `json:"configurationSet"`
	Region           string    `json:"region"`
	Mode             AutoPause `json:"mode"`
	// Outcome is "paused", "would-pause", "ses-acted" (SES had already
	// acted: reported, not paused) or "denied" (the pause call was refused
	// for good: announced, retried after the cooldown).
	Outcome string  `json:"outcome"`
	By      string  `json:"by"`
	Why     string  `json:"why"`
	Kind    string  `json:"kind"` // metrics.KindBounce or KindComplaint
	Rate    float64 `json:"rate"`
	Lower   float64 `json:"lower"`
	Events  int64   `json:"events"`
	Sends   int64   `json:"sends"`
	// Threshold is the critical threshold the lower bound cleared.
	Threshold reputation.PPM `json:"thresholdPPM"`
	At        time.Time      `json:"at"`
	Announced bool           `json:"announced"`
	Err       string         `json:"error,omitempty"`
}

// PauseDecision is one configuration set's auto-pause decision in a run.
type PauseDecision struct {
	PauseRecord
	// Skipped says why nothing was done ("" when the record was written).
	Skipped string `json:"skipped,omitempty"`
}

func pauseKey(region, name string) string { return "pause/" + region + "/" + name }

// pauseCandidate returns the assessment that makes sr pausable and its
// kind: the level critical or above, at least MinSends sends, and this
// run's lower confidence bound at or above the critical threshold (a level
// held by hysteresis is not enough), from sesguard's own counts only.
func pauseCandidate(cfg Config, sr *ScopeReport) (reputation.Assessment, string, bool) {
	for _, c := range []struct {
		a    reputation.Assessment
		kind string
		th   reputation.Thresholds
	}{{sr.Bounce, metrics.KindBounce, cfg.Rates.Bounce}, {sr.Complaint, metrics.KindComplaint, cfg.Rates.Complaint}} {
		if c.a.Level >= reputation.Critical && c.a.Sends >= cfg.Rates.MinSends && c.a.Lower*reputation.PerMillion >= float64(c.th.Critical) {
			return c.a, c.kind, true
		}
	}
	return reputation.Assessment{}, "", false
}

// autoPause decides, for each watched configuration set, whether to pause
// it, and acts once across environments. The guard, in order:
//
//  1. AutoPause is not off, and the scope is a configuration set sesguard
//     watches (never the account, never a domain);
//  2. pauseCandidate: critical with the sample guard, on our own counts;
//  3. GetAccount answered this run: if SES has already acted (status not
//     HEALTHY, or account sending disabled), report that and do not pause;
//     without an answer, do not pause (announce why);
//  4. the set's sending is not already disabled;
//  5. no pause record younger than the cooldown;
//  6. this evaluation wins the record's Swap (exactly one environment acts).
//
// Then dry-run announces "would pause"; on calls
// PutConfigurationSetSendingOptions(SendingEnabled=false): a throttled or
// transient failure releases the record (the next run tries again), a
// refusal is announced once and recorded. Every outcome is announced on
// every channel as its own alert, with the resume command.
func (h *Handler) autoPause(ctx context.Context, rep *Report) {
	mode := h.cfg.AutoPause
	if mode == "" || mode == AutoPauseOff || h.configSets == nil {
		// Without a configuration-set client (Deps.ConfigSets; none in a
		// DRY_RUN invocation) there is nothing to read or pause with.
		return
	}
	for _, sr := range rep.Scopes[1:] {
		if sr.Scope.Type != metrics.ScopeConfigurationSet || !slices.Contains(h.cfg.Scopes, sr.Scope) {
			continue
		}
		if d, ok := h.pauseOne(ctx, rep, sr, mode); ok {
			rep.Pauses = append(rep.Pauses, d)
		}
	}
}

func (h *Handler) pauseOne(ctx context.Context, rep *Report, sr *ScopeReport, mode AutoPause) (PauseDecision, bool) {
	name := sr.Scope.Name
	key := pauseKey(h.cfg.Region, name)
	rec, err := h.records.Get(ctx, key)
	if err != nil {
		h.log.ErrorContext(ctx, "pause record not read; not pausing this run", "configurationSet", name, "err", err)
		return PauseDecision{}, false
	}
	var last PauseRecord
	if rec.Value != "" { // "" after a released claim: nothing decided
		if err := json.Unmarshal([]byte(rec.Value), &last); err != nil {
			h.log.ErrorContext(ctx, "pause record unreadable; treated as absent", "configurationSet", name, "err", err)
			last = PauseRecord{}
		}
		if last.Outcome != "" && !last.Announced {
			// An earlier run decided but no sink took the alert: announce
			// it now (two environments may both do so: duplicates are
			// accepted, lost alerts are not).
			h.announcePause(ctx, rep, key, rec, last)
			if rec, err = h.records.Get(ctx, key); err != nil {
				return PauseDecision{}, false
			}
		}
	}
	a, kind, ok := pauseCandidate(h.cfg, sr)
	if !ok {
		return PauseDecision{}, false
	}
	th := h.cfg.Rates.Bounce
	if kind == metrics.KindComplaint {
		th = h.cfg.Rates.Complaint
	}
	d := PauseDecision{PauseRecord: PauseRecord{
		ConfigurationSet: name, Region: h.cfg.Region, Mode: mode, By: h.by(), Kind: kind,
		Rate: a.Rate, Lower: a.Lower, Events: a.Events, Sends: a.Sends, Threshold: th.Critical, At: rep.Time,
		Why: fmt.Sprintf("%s rate %s over %s sends in the last %s; its %g%% lower bound %s is at or above the critical %s",
			kind, reputation.FormatRate(a.Rate), group(a.Sends), windowText(h.cfg.Window), h.cfg.Rates.ConfidencePercent(), reputation.FormatRate(a.Lower), th.Critical),
	}}
	cooldown := h.cfg.PauseCooldown
	if cooldown <= 0 {
		cooldown = h.cfg.Window
	}
	switch {
	case hasKey(rep.ConfigSetSending, name) && !rep.ConfigSetSending[name]:
		d.Skipped = "sending is already disabled for this configuration set"
	case !last.At.IsZero() && rep.Time.Sub(last.At) < cooldown:
		d.Skipped = fmt.Sprintf("cooldown: the last decision (%s at %s) is younger than %s", last.Outcome, last.At.Format(time.RFC3339), windowText(cooldown))
	case rep.Account == nil:
		// Said once per cooldown: a quiet skip would look like a pause
		// path that works.
		d.Outcome = "not-checked"
	case rep.Account.EnforcementStatus != EnforcementHealthy || !rep.Account.SendingEnabled:
		d.Outcome = "ses-acted"
	case mode == AutoPauseDryRun:
		d.Outcome = "would-pause"
	default:
		d.Outcome = "paused"
	}
	if d.Skipped != "" {
		h.log.InfoContext(ctx, "auto-pause skipped", "configurationSet", name, "why", d.Skipped)
		return d, true
	}
	claimed, won, err := h.records.Swap(ctx, key, rec, d.encode())
	if err != nil {
		h.log.ErrorContext(ctx, "pause record not written; not pausing this run", "configurationSet", name, "err", err)
		d.Skipped, d.Outcome = "the pause record could not be written: "+err.Error(), ""
		return d, true
	}
	if !won {
		d.Skipped, d.Outcome = "another evaluation decided first", ""
		return d, true
	}
	if d.Outcome == "paused" {
		_, err := h.configSets.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{
			ConfigurationSetName: aws.String(name), SendingEnabled: false,
		})
		if err != nil && transient(err) {
			// Release the claim: the next run (minutes away) tries again.
			if _, _, err2 := h.records.Swap(ctx, key, claimed, rec.Value); err2 != nil {
				h.log.ErrorContext(ctx, "pause record not released after a throttled pause", "configurationSet", name, "err", err2)
			}
			h.log.WarnContext(ctx, "pause call failed transiently; the next run tries again", "configurationSet", name, "err", err)
			d.Skipped, d.Outcome = "the pause call failed transiently: "+err.Error(), ""
			return d, true
		}
		if err != nil {
			d.Outcome, d.Err = "denied", err.Error()
			claimed, _, _ = h.records.Swap(ctx, key, claimed, d.encode())
		} else {
			// The watch must not announce this pause a second time.
			cs := configSetKey(h.cfg.Region, name)
			if r, err := h.records.Get(ctx, cs); err == nil {
				_, _, _ = h.records.Swap(ctx, cs, r, "false")
			}
		}
	}
	h.announcePause(ctx, rep, key, claimed, d.PauseRecord)
	return d, true
}

func eventsWord(kind string) string {
	if kind == metrics.KindComplaint {
		return "complaints"
	}
	return "hard bounces"
}

func hasKey(m map[string]bool, k string) bool { _, ok := m[k]; return ok }

// announcePause sends rec's alert and marks it announced.
func (h *Handler) announcePause(ctx context.Context, rep *Report, key string, stored Record, rec PauseRecord) {
	if !h.send(ctx, rep, h.pauseAlert(rep, rec)) {
		return
	}
	rec.Announced = true
	if _, _, err := h.records.Swap(ctx, key, stored, rec.encode()); err != nil {
		h.log.ErrorContext(ctx, "pause record not marked announced", "configurationSet", rec.ConfigurationSet, "err", err)
	}
}

// pauseByHand is the AWS CLI command that pauses one configuration set.
func pauseByHand(name, region string) string {
	return "aws sesv2 put-configuration-set-sending-options --configuration-set-name " + name + " --no-sending-enabled --region " + region
}

func (r PauseRecord) encode() string {
	b, _ := json.Marshal(r)
	return string(b)
}

func (h *Handler) by() string {
	if h.instance == "" {
		return Source
	}
	return Source + " " + h.instance
}

// transient reports whether a pause call failure is worth retrying at the
// next run: throttling, SES's own 5xx, a deadline, a network error. A
// refusal (AccessDenied, NotFound, BadRequest) is not.
func transient(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "TooManyRequestsException", "Throttling", "LimitExceededException", "InternalFailure", "ServiceUnavailable":
			return true
		}
		return ae.ErrorFault() == smithy.FaultServer
	}
	return !errors.Is(err, context.Canceled)
}

func (h *Handler) pauseAlert(rep *Report, r PauseRecord) alert.Alert {
	scope := Scope{metrics.ScopeConfigurationSet, r.ConfigurationSet}
	a := alert.Alert{
		Kind: alert.KindPause, Level: alert.LevelCritical, Rule: r.Kind + "-rate",
		Region: r.Region, Scope: scope.String(), Count: 1, Time: rep.Time, Source: Source,
		Summary: "Why: " + r.Why + ".",
	}
	where := fmt.Sprintf("configuration set %s in %s", r.ConfigurationSet, r.Region)
	resume := []string{
		"Find and stop the traffic behind the rate (an old or bought list, a broken signup form), then check the rates and resume:",
		resumeCommand(r.ConfigurationSet, r.Region),
	}
	switch r.Outcome {
	case "paused":
		a.Level = alert.LevelPauseRisk
		a.Title = "sesguard paused sending through " + where
		a.Evidence = []string{"Only this configuration set is paused; the account and other configuration sets keep sending. The stack never turns it back on by itself, and a redeploy does not either."}
		a.Fix = resume
	case "would-pause":
		a.Title = "sesguard would pause sending through " + where + " (AutoPause=dry-run)"
		a.Evidence = []string{"Dry run: nothing was paused. With AutoPause=on, sesguard would have called PutConfigurationSetSendingOptions(SendingEnabled=false) for this configuration set only."}
		a.Fix = []string{
			"Find and stop the traffic behind the rate (an old or bought list, a broken signup form), or pause by hand:",
			pauseByHand(r.ConfigurationSet, r.Region),
		}
	case "ses-acted":
		a.Title = "SES has already acted on the account; sesguard did not pause " + where
		if acct := rep.Account; acct != nil {
			a.Evidence = []string{fmt.Sprintf("GetAccount: enforcement status %s, sending %s.", acct.EnforcementStatus, enabledText(acct.SendingEnabled))}
		}
		a.Fix = []string{"Answer SES's review case (AWS Support Center) with what you changed.", "aws sesv2 get-account --region " + r.Region}
	case "denied":
		a.Title = "sesguard could not pause " + where
		a.Evidence = []string{"PutConfigurationSetSendingOptions failed: " + r.Err, "Retried after the cooldown; pause by hand if the rate is still critical."}
		a.Fix = []string{
			"Check the stack's AutoPause parameter is on (it grants " + PauseAction + " on this configuration set only), or pause by hand:",
			pauseByHand(r.ConfigurationSet, r.Region),
		}
	case "not-checked":
		a.Level = alert.LevelWarning
		a.Title = "sesguard did not pause " + where + ": SES's account status could not be read"
		a.Evidence = []string{"Auto-pause acts only after GetAccount shows SES has not already acted; GetAccount failed: " + rep.AccountErr}
		a.Fix = []string{"Check the function may call ses:GetAccount; pause by hand if needed:", pauseByHand(r.ConfigurationSet, r.Region)}
	}
	a.Figures = []alert.Figure{
		alert.Num("Rate", r.Rate, reputation.FormatRate(r.Rate)+" "+r.Kind+" rate"),
		alert.Num("Sample", float64(r.Sends), group(r.Sends)+" sends, "+group(r.Events)+" "+eventsWord(r.Kind)),
		alert.Num("Bound", r.Lower, fmt.Sprintf("%s (%g%% lower bound) vs critical %s", reputation.FormatRate(r.Lower), h.cfg.Rates.ConfidencePercent(), r.Threshold)),
		{Name: "Decided by", Value: r.By + " at " + r.At.Format(time.RFC3339)},
	}
	return a
}
