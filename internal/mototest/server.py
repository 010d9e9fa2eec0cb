# Starts moto's server with one fix, so Secrets Manager tests see what AWS
# documents rather than a moto 5.2.1 gap (docs/local.md, "moto gaps"):
#
# UpdateSecretVersionStage moving AWSCURRENT leaves moto's notion of the
# secret's current version on the old one. A GetSecretValue without
# VersionStage then still returns the old version, and the next
# PutSecretValue demotes the old version instead of the one that holds
# AWSCURRENT, so two versions end up labelled AWSCURRENT. On AWS,
# "Whenever you move AWSCURRENT, Secrets Manager automatically moves the
# label AWSPREVIOUS to the version that AWSCURRENT was removed from", and
# the version it moved to is the one every label-less read returns:
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html
#
# And one change of speed, not of behaviour: moto parses every
# CloudFormation template, JSON included, with PyYAML's pure-Python loader,
# which held 92% of the samples of moto's request threads during a
# 2,000-target `cdk deploy`. A template that is JSON is parsed as JSON first,
# which gives the same document (YAML is a superset of JSON); anything else
# still goes to PyYAML. BenchmarkMotoDeploy (infra/motodeploy) measures it
# against the unchanged parse, which MOTOTEST_PYYAML_TEMPLATES=1 keeps.
import json
import os
import sys

import yaml

import moto.secretsmanager.models as models

if os.environ.get("MOTOTEST_PYYAML_TEMPLATES") != "1":
    _load = yaml.load

    def load(stream, Loader=None):
        if isinstance(stream, (str, bytes)):
            try:
                return json.loads(stream)
            except ValueError:
                pass
        return _load(stream, Loader=Loader)

    yaml.load = load

_update = models.SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
    out = _update(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
    if version_stage == "AWSCURRENT" and move_to_version_id:
        secret = self.secrets[secret_id]
        secret.default_version_id = move_to_version_id
    return out


models.SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage

from moto.server import main  # noqa: E402

main(sys.argv[1:])
