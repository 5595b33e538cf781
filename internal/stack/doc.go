// Package stack reads sesguard's template.yaml: the AWS SAM template that
// users deploy. It exists so that the template and the Go code can be
// checked against each other without AWS (this package's tests do that for
// environment variables, IAM actions, metrics, thresholds and the SNS filter
// policy), and so that the local stack can create the topics, queues and
// subscriptions exactly as the template declares them.
//
// Parse keeps the template as plain data: CloudFormation's short-form tags
// (!Ref, !Sub, !GetAtt, !If, ...) become their long forms ({"Ref": ...},
// {"Fn::Sub": ...}), nothing is resolved. Resolve then evaluates the
// Conditions for a set of parameter values: resources whose condition is
// false disappear and every Fn::If takes its branch. The topology methods
// (Topics, Queues, Subscriptions, QueueSources) describe the messaging wiring
// by logical ID, and FilterPolicy evaluates an SNS filter policy the way SNS
// does for the operators the template uses.
package stack
