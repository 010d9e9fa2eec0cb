package config

import (
	"errors"
	"strings"
	"testing"
)

// replicaRegions and stsRegion must be Regions AWS lists, in the target's
// partition, and a replica never the stack's own region when that is known.
func TestReplicaRegionRules(t *testing.T) {
	const target = "targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n"
	cases := []struct {
		proves string
		region StackRegion
		yaml   string
		want   string // "" for valid
	}{
		{"the stack's own region from --region is refused",
			StackRegion{"eu-west-1", "--region"}, target + "    replicaRegions: [eu-west-1]\n",
			"c.yaml:4: targets[0](app).replicaRegions[0]: eu-west-1 is the stack's own region (eu-west-1, from --region): Secrets Manager replicates a secret only to other Regions (fix: remove it from replicaRegions"},
		{"an inherited own region is the defaults' mistake, reported there",
			StackRegion{"us-east-1", "CDK_DEFAULT_REGION"}, "defaults:\n  replicaRegions: [us-east-1]\n" + target,
			"c.yaml:2: defaults.replicaRegions[0]: us-east-1 is the stack's own region (us-east-1, from CDK_DEFAULT_REGION)"},
		{"another region of the partition is fine when the stack's is known",
			StackRegion{"us-east-1", "AWS_REGION"}, target + "    replicaRegions: [eu-west-1]\n", ""},
		{"an unknown stack region is refused, not trusted",
			StackRegion{"us-east-9", "--region"}, target,
			`c.yaml: the stack's region (from --region): "us-east-9" is not a Region AWS lists`},
		{"a region of another partition is refused",
			StackRegion{}, target + "    replicaRegions: [cn-north-1]\n",
			"c.yaml:4: targets[0](app).replicaRegions[0]: cn-north-1 is in partition aws-cn, but the target's role, stack and secret are in aws: Secrets Manager replicates only within a partition"},
		{"GovCloud replicates within GovCloud",
			StackRegion{"us-gov-west-1", "--region"}, "targets:\n  - name: app\n    roleArn: arn:aws-us-gov:iam::123456789012:role/App\n    replicaRegions: [us-gov-east-1]\n", ""},
		{"an ISO region is not reachable from a commercial stack",
			StackRegion{}, target + "    replicaRegions: [us-iso-east-1]\n", "is in partition aws-iso, but the target's role, stack and secret are in aws"},
		{"a replica outside the known stack region's partition is refused, whatever the role says",
			StackRegion{"cn-north-1", "--region"}, target + "    replicaRegions: [eu-west-1]\n",
			"c.yaml:4: targets[0](app).replicaRegions[0]: eu-west-1 is in partition aws, but the stack's region cn-north-1 (from --region) is in aws-cn"},
		{"a well-formed region AWS does not list is refused",
			StackRegion{}, target + "    replicaRegions: [eu-west-9]\n", `c.yaml:4: targets[0](app).replicaRegions[0]: "eu-west-9" is not a Region AWS lists (fix: check the spelling`},
		{"an stsRegion AWS does not list is refused",
			StackRegion{}, target + "    stsRegion: us-east-7\n", `c.yaml:4: targets[0](app).stsRegion: "us-east-7" is not a Region AWS lists`},
	}
	for _, c := range cases {
		_, err := ParseIn("c.yaml", []byte(c.yaml), c.region)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.proves, err)
			}
			continue
		}
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 || !strings.Contains(es[0].Error(), c.want) {
			t.Errorf("%s:\n got: %v\nwant one error containing: %s", c.proves, err, c.want)
		}
	}
}

// replicaKmsKeys takes what Secrets Manager's ReplicaRegionType.KmsKeyId
// takes: "The ARN, key ID, or alias of the KMS key"
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicaRegionType.html),
// i.e. the four forms KMS names a key by
// (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id).
func TestReplicaKMSKeyForms(t *testing.T) {
	cases := []struct {
		proves, key string
		ok          bool
	}{
		{"a key ID", "1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{"a multi-region key ID", "mrk-1234abcd12ab34cd56ef1234567890ab", true},
		{"a key ARN in the replica's region", "arn:aws:kms:ap-south-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{"an alias name (the issue's alias/mine)", "alias/mine", true},
		{"an alias name with a path, as the stack's own alias/<stack>/replicas", "alias/stsrotator/replicas", true},
		{"AWS's managed key by alias", "alias/aws/secretsmanager", true},
		{"an alias ARN in the replica's region", "arn:aws:kms:ap-south-1:123456789012:alias/mine", true},
		{"a key ARN in another region: a replica's key is in its own region", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"an alias ARN in another partition", "arn:aws-cn:kms:ap-south-1:123456789012:alias/mine", false},
		{"an alias without the alias/ prefix is not a key ID", "mine", false},
		{"an empty alias name", "alias/", false},
		{"an ARN of something else", "arn:aws:iam::123456789012:role/mine", false},
	}
	for _, c := range cases {
		cfg, err := Parse("c.yaml", []byte(okTarget+"replicaKmsKeys:\n  ap-south-1: "+c.key+"\n"))
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %q refused: %v", c.proves, c.key, err)
		case c.ok && cfg.ReplicaKMSKeys["ap-south-1"] != c.key:
			t.Errorf("%s: kept %q", c.proves, cfg.ReplicaKMSKeys["ap-south-1"])
		case !c.ok && (err == nil || !strings.Contains(err.Error(), "replicaKmsKeys.ap-south-1") || !strings.Contains(err.Error(), "fix: write alias/<name>, a key ID")):
			t.Errorf("%s: %q: want an error naming the field and the forms, got %v", c.proves, c.key, err)
		}
	}
}
