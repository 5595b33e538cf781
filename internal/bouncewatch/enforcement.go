package bouncewatch

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

// ConfigSetAPI is the part of *sesv2.Client that reads and sets a
// configuration set's sending flag. kumo implements GetConfigurationSet
// but not PutConfigurationSetSendingOptions; tests fake both here.
type ConfigSetAPI interface {
	GetConfigurationSet(ctx context.Context, in *sesv2.GetConfigurationSetInput, opts ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error)
	PutConfigurationSetSendingOptions(ctx context.Context, in *sesv2.PutConfigurationSetSendingOptionsInput, opts ...func(*sesv2.Options)) (*sesv2.PutConfigurationSetSendingOptionsOutput, error)
}

// SES's documented EnforcementStatus values (GetAccount; a plain string in
// the SDK, not an enum).
const (
	EnforcementHealthy   = "HEALTHY"
	EnforcementProbation = "PROBATION"
	EnforcementShutdown  = "SHUTDOWN"
)

// enforcementWords says what an EnforcementStatus means, in the console's
// words (reputation-dashboard-dg.md).
var enforcementWords = map[string]string{
	EnforcementHealthy:   "healthy",
	EnforcementProbation: "under review",
	EnforcementShutdown:  "sending paused by SES",
}

// accountValue encodes what GetAccount said for the record store:
// "PROBATION|sending=true".
func accountValue(a AccountStatus) string {
	return a.EnforcementStatus + "|sending=" + strconv.FormatBool(a.SendingEnabled)
}

func parseAccountValue(v string) AccountStatus {
	st, sending, _ := strings.Cut(v, "|sending=")
	return AccountStatus{EnforcementStatus: st, SendingEnabled: sending != "false"}
}

// baselineAccount is what an account is taken to have been before the
// first record: healthy and sending. An account first seen otherwise is
// announced.
var baselineAccount = AccountStatus{EnforcementStatus: EnforcementHealthy, SendingEnabled: true}

func enforcementKey(region string) string     { return "enforcement/" + region }
func configSetKey(region, name string) string { return "configset-sending/" + region + "/" + name }

// readConfigSets asks SES for each watched configuration set's sending
// flag (a failure is logged and the set left out: the rates stand alone).
func (h *Handler) readConfigSets(ctx context.Context, rep *Report) {
	if h.configSets == nil {
		return
	}
	for _, s := range h.cfg.Scopes {
		if s.Type != metrics.ScopeConfigurationSet {
			continue
		}
		out, err := h.configSets.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(s.Name)})
		if err != nil {
			h.log.WarnContext(ctx, "GetConfigurationSet unavailable", "configurationSet", s.Name, "err", err)
			continue
		}
		enabled := true // SES's default when SendingOptions is absent
		if out.SendingOptions != nil {
			enabled = out.SendingOptions.SendingEnabled
		}
		if rep.ConfigSetSending == nil {
			rep.ConfigSetSending = map[string]bool{}
		}
		rep.ConfigSetSending[s.Name] = enabled
	}
}

// watchSES announces changes of SES's own enforcement: the account's
// EnforcementStatus or SendingEnabled (GetAccount), and a watched
// configuration set's sending flag, whoever changed it. Each change is
// announced once across environments: the evaluation that wins the
// record's Swap sends the alert, and puts the record back if no sink took
// it (the next run tries again).
func (h *Handler) watchSES(ctx context.Context, rep *Report) {
	if rep.Account != nil {
		h.watchRecord(ctx, rep, enforcementKey(h.cfg.Region), accountValue(baselineAccount), accountValue(*rep.Account), func(prev string) alert.Alert {
			return h.enforcementAlert(rep, parseAccountValue(prev), *rep.Account)
		})
	}
	for _, s := range h.cfg.Scopes {
		enabled, ok := rep.ConfigSetSending[s.Name]
		if s.Type != metrics.ScopeConfigurationSet || !ok {
			continue
		}
		h.watchRecord(ctx, rep, configSetKey(h.cfg.Region, s.Name), "true", strconv.FormatBool(enabled), func(string) alert.Alert {
			return h.configSetSendingAlert(rep, s, enabled)
		})
	}
}

func (h *Handler) watchRecord(ctx context.Context, rep *Report, key, baseline, now string, build func(prev string) alert.Alert) {
	rec, err := h.records.Get(ctx, key)
	if err != nil {
		h.log.ErrorContext(ctx, "record not read; SES status change not checked this run", "key", key, "err", err)
		return
	}
	prev := rec.Value
	if rec.Version == 0 {
		prev = baseline
	}
	if prev == now {
		return
	}
	saved, won, err := h.records.Swap(ctx, key, rec, now)
	if err != nil {
		// Announcing twice beats not announcing (DESIGN.md).
		h.log.ErrorContext(ctx, "record not saved; announcing anyway", "key", key, "err", err)
		won = true
	}
	if !won {
		h.log.InfoContext(ctx, "SES status change already announced elsewhere", "key", key, "value", saved.Value)
		return
	}
	if !h.send(ctx, rep, build(prev)) && err == nil {
		if _, _, err := h.records.Swap(ctx, key, saved, prev); err != nil {
			h.log.ErrorContext(ctx, "record not put back after the alert failed", "key", key, "err", err)
		}
	}
}

func (h *Handler) enforcementAlert(rep *Report, from, to AccountStatus) alert.Alert {
	level := alert.LevelOK
	switch {
	case to.EnforcementStatus == EnforcementShutdown || !to.SendingEnabled:
		level = alert.LevelPauseRisk
	case to.EnforcementStatus != EnforcementHealthy:
		level = alert.LevelCritical
	}
	words := func(a AccountStatus) string {
		w := enforcementWords[a.EnforcementStatus]
		if w == "" {
			w = "status unknown to sesguard"
		}
		return fmt.Sprintf("%s (%s), sending %s", a.EnforcementStatus, w, enabledText(a.SendingEnabled))
	}
	a := alert.Alert{
		Kind:    alert.KindEnforcement,
		Level:   level,
		Rule:    "ses-enforcement",
		Region:  h.cfg.Region,
		Scope:   metrics.ScopeAccount,
		Count:   1,
		Time:    rep.Time,
		Source:  Source,
		Title:   fmt.Sprintf("SES account status in %s: %s → %s", h.cfg.Region, from.EnforcementStatus, to.EnforcementStatus),
		Summary: fmt.Sprintf("SES's GetAccount now says %s; it said %s.", words(to), words(from)),
	}
	if from.SendingEnabled != to.SendingEnabled {
		a.Title = fmt.Sprintf("SES account sending in %s is now %s (status %s)", h.cfg.Region, enabledText(to.SendingEnabled), to.EnforcementStatus)
	}
	a.Figures = h.rateFigures(rep)
	if level != alert.LevelOK {
		a.Fix = []string{
			"SES acted on the whole account; sesguard does not undo that. Read SES's message in the AWS Support Center (Service limit increase / review case) and the account's status:",
			"aws sesv2 get-account --region " + h.cfg.Region,
			"Find and stop the traffic behind the rate (top scope and rules in the rate alerts), then answer SES's review case with what you changed.",
		}
	}
	return a
}

func (h *Handler) configSetSendingAlert(rep *Report, s Scope, enabled bool) alert.Alert {
	a := alert.Alert{
		Kind:   alert.KindEnforcement,
		Level:  alert.LevelOK,
		Rule:   "configuration-set-sending",
		Region: h.cfg.Region,
		Scope:  s.String(),
		Count:  1,
		Time:   rep.Time,
		Source: Source,
		Title:  fmt.Sprintf("Sending through configuration set %s in %s is %s again", s.Name, h.cfg.Region, enabledText(true)),
		Summary: fmt.Sprintf("GetConfigurationSet says sending is %s for %s.",
			enabledText(enabled), s.Name),
	}
	if !enabled {
		a.Level = alert.LevelCritical
		a.Title = fmt.Sprintf("Sending through configuration set %s in %s is disabled", s.Name, h.cfg.Region)
		a.Summary += " Messages sent with it are rejected until someone re-enables it (by SES, a person, or sesguard's auto-pause, which announces itself separately)."
		a.Fix = []string{
			"When the cause is fixed, check the rates and resume:",
			resumeCommand(s.Name, h.cfg.Region),
		}
	}
	a.Figures = h.rateFigures(rep)
	return a
}

// rateFigures are the account's rates, for alerts that are not about them.
func (h *Handler) rateFigures(rep *Report) []alert.Figure {
	sr := rep.Scopes[0]
	return []alert.Figure{
		alert.Num("Bounce rate", sr.Bounce.Rate, fmt.Sprintf("%s of %s sends (account, last %s)", reputation.FormatRate(sr.Bounce.Rate), group(sr.Bounce.Sends), windowText(h.cfg.Window))),
		alert.Num("Complaint rate", sr.Complaint.Rate, reputation.FormatRate(sr.Complaint.Rate)),
	}
}

func enabledText(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

// resumeCommand is the command that turns sending back on, after a look
// at the rates.
func resumeCommand(name, region string) string {
	return "sesguard resume --configuration-set " + name + " --region " + region
}
