package doctor

import (
	"context"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SESv2 is the part of the SES v2 API doctor reads.
type SESv2 interface {
	GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
	ListEmailIdentities(context.Context, *sesv2.ListEmailIdentitiesInput, ...func(*sesv2.Options)) (*sesv2.ListEmailIdentitiesOutput, error)
	GetEmailIdentity(context.Context, *sesv2.GetEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error)
	ListConfigurationSets(context.Context, *sesv2.ListConfigurationSetsInput, ...func(*sesv2.Options)) (*sesv2.ListConfigurationSetsOutput, error)
	GetConfigurationSet(context.Context, *sesv2.GetConfigurationSetInput, ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error)
	GetConfigurationSetEventDestinations(context.Context, *sesv2.GetConfigurationSetEventDestinationsInput, ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetEventDestinationsOutput, error)
}

// SESv1 is the one SES v1 call doctor makes: identity notification topics
// and feedback forwarding have no v2 equivalent.
type SESv1 interface {
	GetIdentityNotificationAttributes(context.Context, *ses.GetIdentityNotificationAttributesInput, ...func(*ses.Options)) (*ses.GetIdentityNotificationAttributesOutput, error)
}

// SNS is the part of the SNS API doctor reads.
type SNS interface {
	GetTopicAttributes(context.Context, *sns.GetTopicAttributesInput, ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error)
	ListSubscriptionsByTopic(context.Context, *sns.ListSubscriptionsByTopicInput, ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error)
	GetSubscriptionAttributes(context.Context, *sns.GetSubscriptionAttributesInput, ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error)
}

// KMS is the part of the KMS API doctor reads.
type KMS interface {
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// SQS is the part of the SQS API doctor reads.
type SQS interface {
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// CloudFormation is the part of the CloudFormation API doctor reads.
type CloudFormation interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// Lambda is the part of the Lambda API doctor reads.
type Lambda interface {
	ListEventSourceMappings(context.Context, *lambda.ListEventSourceMappingsInput, ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error)
	GetPolicy(context.Context, *lambda.GetPolicyInput, ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error)
}

// CloudWatch is the part of the CloudWatch API doctor reads.
type CloudWatch interface {
	DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// Resolver looks up DNS TXT records (*net.Resolver in production).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Clients are one Region's clients.
type Clients struct {
	SESv2      SESv2
	SESv1      SESv1
	SNS        SNS
	KMS        KMS
	SQS        SQS
	CFN        CloudFormation
	Lambda     Lambda
	CloudWatch CloudWatch
	DNS        Resolver
}

// ClientsFor returns the clients of a Region.
type ClientsFor func(region string) Clients

// AWSClients returns clients from cfg (the default credential chain),
// one set per Region, and net.DefaultResolver for DNS.
func AWSClients(cfg aws.Config) ClientsFor {
	return func(region string) Clients {
		c := cfg.Copy()
		c.Region = region
		return Clients{
			SESv2:      sesv2.NewFromConfig(c),
			SESv1:      ses.NewFromConfig(c),
			SNS:        sns.NewFromConfig(c),
			KMS:        kms.NewFromConfig(c),
			SQS:        sqs.NewFromConfig(c),
			CFN:        cloudformation.NewFromConfig(c),
			Lambda:     lambda.NewFromConfig(c),
			CloudWatch: cloudwatch.NewFromConfig(c),
			DNS:        net.DefaultResolver,
		}
	}
}
