// Package ruleset classifies Amazon SES send failures: it decodes any input
// shape sesguard accepts (Lambda SNS and SQS events, SNS envelopes, SES
// notifications and event-publishing records, EventBridge events, the
// application's failure envelope, plain error text) into a Failure, matches
// it against a rule set, and returns ranked Diagnoses with the fix.
//
// # Rule model
//
// Rules are data: YAML files embedded from rules/ (and extra files an
// operator loads at run time). Every rule whose predicates all hold is a
// candidate; candidates are ranked by confidence, the first becomes the
// Diagnosis and the rest its Alternatives. A rule's predicates are a small
// named vocabulary (see rules/FORMAT.md):
//
//   - structural: kinds, eventTypes, bounceTypes, bounceSubTypes,
//     feedbackTypes, complaintSubTypes, delayTypes, roles, transports,
//     delegated, configurationSet;
//   - evidence (any one suffices): phrases (case-insensitive substrings),
//     patterns (regular expressions), statuses (RFC 3463 enhanced status
//     code prefixes), replyCodes (SMTP reply codes);
//   - identity: identityPatterns (regular expressions over the failing
//     identity, e.g. a host-name envelope sender);
//   - account facts: facts, named predicates over Facts ("sandbox",
//     "verified-other-region", ...). Without facts such a rule is ranked by
//     its prior (the base rate); with facts it is kept only if all hold.
//
// Failures with several recipients (bounces, complaints, delays) or several
// failing identities yield one Diagnosis each.
//
// The package makes no AWS calls and does no I/O besides reading rule files.
package ruleset
