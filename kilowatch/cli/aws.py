"""`kilowatch aws`: operate kilowatch's AWS deployment (register devices with IoT Core)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Operate kilowatch on AWS (the CDK app in cdk/): devices, Grafana data sources.",
    no_args_is_help=True,
)


def _run(body: Callable[[], int]) -> None:
    """Run a command body: a person's error (or AWS refusing) is one 'error: ...' line, exit 2."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    from kilowatch.aws.devices import DeviceRegistrationError
    from kilowatch.aws.grafana import GrafanaSourcesError

    try:
        code = body()
    except (DeviceRegistrationError, GrafanaSourcesError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    except NoCredentialsError:
        typer.echo(
            "error: no AWS credentials found; set AWS_PROFILE or run `aws configure`", err=True
        )
        raise typer.Exit(2) from None
    except NoRegionError:
        typer.echo("error: no AWS region set; pass --region or set AWS_REGION", err=True)
        raise typer.Exit(2) from None
    except ClientError as err:
        error = err.response.get("Error", {})
        typer.echo(
            f"error: AWS refused {err.operation_name}: {error.get('Code')}: {error.get('Message')}",
            err=True,
        )
        raise typer.Exit(2) from None
    except BotoCoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command("register-device")
def register_device(
    thing: Annotated[
        str, typer.Option("--thing", help="thing name = MQTT client id = the agent's `agent` id")
    ],
    plant: Annotated[str, typer.Option("--plant", help="plant id the device may publish for")],
    agent_config_out: Annotated[
        Path | None,
        typer.Option(
            "--agent-config-out",
            help="agent settings (env file) to write; default CERT_DIR/THING.env",
        ),
    ] = None,
    cert_dir: Annotated[
        Path, typer.Option("--cert-dir", help="folder for the certificate, key and CA")
    ] = Path("."),
    environment: Annotated[
        str, typer.Option("--environment", "-e", help="the CDK environment (stack Kilowatch-ENV)")
    ] = "dev",
    region: Annotated[
        str | None,
        # botocore reads only AWS_DEFAULT_REGION; AWS_REGION is what the error and most SDKs name.
        typer.Option("--region", envvar="AWS_REGION", help="AWS region (env AWS_REGION)"),
    ] = None,
) -> None:
    """Create an IoT thing with its certificate and the device policy; write the agent's files."""
    import boto3

    from kilowatch.aws.devices import names_for_environment
    from kilowatch.aws.devices import register_device as register

    def body() -> int:
        thing_type, policy = names_for_environment(environment)
        device = register(
            boto3.client("iot", region_name=region),
            thing_name=thing,
            plant=plant,
            thing_type=thing_type,
            policy_name=policy,
            cert_dir=cert_dir,
            settings_file=agent_config_out or cert_dir / f"{thing}.env",
        )
        typer.echo(
            f"thing {device.thing_name} (plant {device.plant}) registered; "
            f"certificate {device.certificate_id}"
        )
        typer.echo(
            f"  certificate {device.cert_file}\n  private key {device.key_file} (0600)\n"
            f"  CA {device.ca_file}"
        )
        typer.echo(
            f"  agent settings {device.settings_file}: broker mqtts://{device.endpoint}:8883"
        )
        typer.echo(
            f"set `plant: {device.plant}` and `agent: {device.thing_name}` in the agent's YAML"
        )
        return 0

    _run(body)


@app.command("grafana-sources")
def grafana_sources(
    stack: Annotated[str, typer.Option("--stack", help="the deployed stack, e.g. Kilowatch-prod")],
    token: Annotated[
        str,
        typer.Option(
            envvar="KILOWATCH_GRAFANA_TOKEN",
            help="Grafana service account token, Admin role (env KILOWATCH_GRAFANA_TOKEN)",
        ),
    ],
    url: Annotated[
        str | None, typer.Option("--url", help="Grafana URL (default: the stack's GrafanaUrl)")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", envvar="AWS_REGION", help="AWS region (env AWS_REGION)"),
    ] = None,
) -> None:
    """Create or update the InfluxDB and Athena data sources of the stack in its Grafana."""
    import boto3
    from grafana_client.api import GrafanaApi

    from kilowatch.aws import grafana as sources

    def body() -> int:
        session = boto3.session.Session(region_name=region)
        outputs = sources.stack_outputs(session.client("cloudformation"), stack)
        base_url = url or outputs.grafana_url
        if not base_url:
            raise sources.GrafanaSourcesError(
                f"stack {stack!r} has no Grafana workspace; pass --url of your Grafana"
            )
        secrets = session.client("secretsmanager")
        influx_token, bucket = sources.reader_credentials(secrets, outputs.reader_secret_arn)
        wanted = [
            sources.influx_source(url=outputs.influx_url, database=bucket, token=influx_token),
            sources.athena_source(
                region=session.region_name or "",
                workgroup=outputs.athena_workgroup,
                database=outputs.glue_database,
            ),
        ]
        api = GrafanaApi.from_url(base_url.rstrip("/") + "/", credential=token, timeout=10.0)
        for line in sources.upsert_sources(api, wanted):
            typer.echo(line)
        typer.echo(f"now: kilowatch dashboards push --url {base_url}")
        return 0

    _run(body)
