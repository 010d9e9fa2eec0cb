module github.com/stsrotator/stsrotator

go 1.26.8

require (
	github.com/aws/aws-sdk-go-v2/credentials v1.21.0
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/aws/aws-sdk-go-v2 v1.48.0 // indirect
	github.com/aws/smithy-go v1.28.9 // indirect
)
