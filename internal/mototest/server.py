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
import sys

import moto.secretsmanager.models as models

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
