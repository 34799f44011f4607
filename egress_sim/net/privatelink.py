"""Host names served by a private endpoint, per Private Link target (Azure public cloud).

A private endpoint (PE) outbound rule names a resource id and a sub-resource ("group id"). Inside the managed
VNet, the PE answers for the *public* names clients already use (``{name}.blob.core.windows.net``): Azure's
public DNS CNAMEs them to a ``privatelink.`` name (``{name}.privatelink.blob.core.windows.net``), and the
private DNS zone resolves that to the PE's private IP. Both forms are listed, because a client may also
connect to the ``privatelink.`` name directly.

Where the data comes from
    * Zone names: Microsoft Learn, "Azure Private Endpoint private DNS zone values", Commercial tables
      (https://learn.microsoft.com/azure/private-link/private-endpoint-dns).
    * Host layout inside a zone (``{name}.`` prefix, ``-secondary`` storage hosts, ACR regional data
      endpoint, Data Factory ``{name}.{region}.`` host): each service's private-link article.
    * Azure ML workspace hosts: "How to use your workspace with a custom DNS server"
      (https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns).
    * Azure Monitor (AMPLS) hosts: "Configure your private link", section "Review your endpoint's DNS
      settings" (https://learn.microsoft.com/azure/azure-monitor/logs/private-link-configure).

Template language
    ``{name}`` is the resource name (the last segment of the resource id), ``{region}`` the workspace's
    location (``eastus``). A leading ``*.`` stands for one or more labels, as in FQDN rules.

What is over-approximated (a wildcard or an assumption where the real name cannot be derived)
    * Azure ML workspace (``amlworkspace``): the hosts carry a per-workspace GUID, compute-instance and
      endpoint names, so every template is ``*.`` + a regional suffix; it matches every workspace in
      that region.
    * Azure ML registry (``amlregistry``): the registry's host names are not derivable from its id and a
      wildcard would cover every Azure ML API host, so none is listed; the rule's ``fqdns`` supply them.
    * Databricks: hosts are ``adb-<workspace id>.<n>.azuredatabricks.net``; ``*.azuredatabricks.net``
      matches every Databricks workspace.
    * Azure Monitor (AMPLS): global hosts are exact; Log Analytics, data-collection-endpoint and
      Application Insights ingestion hosts are per workspace/component, hence wildcards.
    * Regional hosts (ACR data endpoint, Data Factory, Cosmos DB regional endpoint, AMPLS live
      diagnostics) assume the target is in the workspace's region; geo-replicas elsewhere are missed.
    * AI services accounts are reached through their custom sub-domain, assumed equal to the name.
    * Application Gateway: the sub-resource is a frontend IP configuration name, any string; no host is
      derivable, so the rule's own ``fqdns`` are the only source (empty tuple here).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ANY_SUBRESOURCE", "PrivateLinkTarget", "TARGETS", "find_target", "host_patterns", "known_subresources",
           "resource_of_host"]

ANY_SUBRESOURCE = "*"  # the table's sub-resource for a target that accepts any sub-resource name


@dataclass(frozen=True, slots=True)
class PrivateLinkTarget:
    provider_type: str  # canonical case, e.g. "Microsoft.Storage/storageAccounts"
    subresource: str  # canonical case, e.g. "blob"; ANY_SUBRESOURCE for Application Gateway
    host_templates: tuple[str, ...]  # see the module docstring for {name}, {region} and "*."
    is_storage: bool  # True for Microsoft.Storage/storageAccounts


_STORAGE = "Microsoft.Storage/storageAccounts"
_COSMOS = "Microsoft.DocumentDB/databaseAccounts"


def _pair(public_suffix: str, private_suffix: str, prefix: str = "{name}") -> tuple[str, str]:
    """A public host and the privatelink name it CNAMEs to (when the private zone is not "privatelink." + zone)."""
    return (f"{prefix}.{public_suffix}", f"{prefix}.{private_suffix}")


def _zone(suffix: str, prefix: str = "{name}") -> tuple[str, str]:
    """The usual case: the private zone is the public zone with "privatelink." in front."""
    return _pair(suffix, f"privatelink.{suffix}", prefix)


def _storage(service: str) -> tuple[PrivateLinkTarget, PrivateLinkTarget]:
    """Primary and ``_secondary`` sub-resources of one storage service (RA-GRS hosts: {name}-secondary.)."""
    suffix = f"{service}.core.windows.net"
    return (
        PrivateLinkTarget(_STORAGE, service, _zone(suffix), True),
        PrivateLinkTarget(_STORAGE, f"{service}_secondary", _zone(suffix, "{name}-secondary"), True),
    )


def _t(provider_type: str, subresource: str, *templates: str) -> PrivateLinkTarget:
    return PrivateLinkTarget(provider_type, subresource, templates, False)


_DATABRICKS_HOSTS = ("*.azuredatabricks.net", "*.privatelink.azuredatabricks.net")  # adb-<id>.<n>.azuredatabricks.net

# fmt: off
TARGETS: tuple[PrivateLinkTarget, ...] = (
    # --- Azure Machine Learning ------------------------------------------------------------------------------
    _t("Microsoft.MachineLearningServices/workspaces", "amlworkspace",
       "*.workspace.{region}.api.azureml.ms",               # <workspace guid>.workspace.<region>.api.azureml.ms
       "*.workspace.{region}.cert.api.azureml.ms",
       "*.workspace.{region}.privatelink.api.azureml.ms",
       "*.{region}.notebooks.azure.net",                    # ml-<ws name>-<region>-<guid>.<region>.notebooks.azure.net
       "*.{region}.privatelink.notebooks.azure.net",
       "*.{region}.instances.azureml.ms",                   # compute instances (and <ci>-22 for SSH)
       "*.{region}.inference.ml.azure.com",                 # managed online endpoints
       "*.inference.{region}.privatelink.api.azureml.ms"),  # <endpoint>.<guid>.inference.<region>.privatelink...
    # Registry hosts are not derivable from the id; a wildcard would match every Azure ML API host, so none
    # is listed: declare the registry's hosts in the rule's ``fqdns``.
    _t("Microsoft.MachineLearningServices/registries", "amlregistry"),
    # --- Storage (blob, file, queue, table, dfs, web; "_secondary" = read-access geo-redundant endpoint) --------
    *_storage("blob"),
    PrivateLinkTarget(_STORAGE, "file", _zone("file.core.windows.net"), True),  # no file_secondary in public cloud
    *_storage("queue"),
    *_storage("table"),
    *_storage("dfs"),
    *_storage("web"),
    # --- Containers and secrets ---------------------------------------------------------------------------------
    _t("Microsoft.ContainerRegistry/registries", "registry",
       *_zone("azurecr.io"),
       *_pair("{region}.data.azurecr.io", "{region}.data.privatelink.azurecr.io")),  # regional data endpoint
    _t("Microsoft.KeyVault/vaults", "vault", *_pair("vault.azure.net", "privatelink.vaultcore.azure.net")),
    # --- AI services, search ------------------------------------------------------------------------------------
    _t("Microsoft.CognitiveServices/accounts", "account",
       *_zone("cognitiveservices.azure.com"), *_zone("openai.azure.com"), *_zone("services.ai.azure.com")),
    _t("Microsoft.Search/searchServices", "searchService", *_zone("search.windows.net")),
    # --- Databases ----------------------------------------------------------------------------------------------
    _t("Microsoft.Sql/servers", "sqlServer", *_zone("database.windows.net")),
    _t(_COSMOS, "Sql", *_zone("documents.azure.com"), *_zone("documents.azure.com", "{name}-{region}")),
    _t(_COSMOS, "MongoDB", *_zone("mongo.cosmos.azure.com")),
    _t(_COSMOS, "Cassandra", *_zone("cassandra.cosmos.azure.com")),
    _t(_COSMOS, "Gremlin", *_zone("gremlin.cosmos.azure.com")),
    _t(_COSMOS, "Table", *_zone("table.cosmos.azure.com")),
    _t(_COSMOS, "Analytical", *_zone("analytics.cosmos.azure.com")),
    _t("Microsoft.DBforMariaDB/servers", "mariadbServer", *_zone("mariadb.database.azure.com")),
    _t("Microsoft.DBforPostgreSQL/servers", "postgresqlServer", *_zone("postgres.database.azure.com")),
    _t("Microsoft.DBforPostgreSQL/flexibleServers", "postgresqlServer", *_zone("postgres.database.azure.com")),
    _t("Microsoft.DBforMySQL/servers", "mysqlServer", *_zone("mysql.database.azure.com")),
    _t("Microsoft.DBforMySQL/flexibleServers", "mysqlServer", *_zone("mysql.database.azure.com")),
    _t("Microsoft.Cache/Redis", "redisCache", *_zone("redis.cache.windows.net")),
    # --- Analytics and integration ------------------------------------------------------------------------------
    _t("Microsoft.DataFactory/factories", "dataFactory",
       *_zone("datafactory.azure.net", "{name}.{region}")),  # <factory>.<region>.datafactory.azure.net
    _t("Microsoft.DataFactory/factories", "portal", "adf.azure.com", "adf.privatelink.adf.azure.com"),
    _t("Microsoft.Databricks/workspaces", "databricks_ui_api", *_DATABRICKS_HOSTS),
    _t("Microsoft.Databricks/workspaces", "browser_authentication", *_DATABRICKS_HOSTS),
    _t("Microsoft.EventHub/namespaces", "namespace", *_zone("servicebus.windows.net")),
    _t("Microsoft.ServiceBus/namespaces", "namespace", *_zone("servicebus.windows.net")),
    _t("Microsoft.ApiManagement/service", "Gateway", *_zone("azure-api.net")),
    _t("Microsoft.Web/sites", "sites",
       *_zone("azurewebsites.net"), *_pair("scm.azurewebsites.net", "scm.privatelink.azurewebsites.net")),
    # --- Azure Monitor private link scope (Application Insights, Log Analytics, data collection endpoints) -----
    _t("Microsoft.Insights/privateLinkScopes", "azuremonitor",
       "api.monitor.azure.com",
       "global.in.ai.monitor.azure.com",
       "*.in.ai.monitor.azure.com",                 # regional ingestion, e.g. eastus-8.in.ai.monitor.azure.com
       "*.in.applicationinsights.azure.com",        # ingestion endpoint of a connection string
       "dc.services.visualstudio.com",              # legacy ingestion endpoint
       "live.monitor.azure.com",
       "{region}.livediagnostics.monitor.azure.com",
       "profiler.monitor.azure.com",
       "snapshot.monitor.azure.com",
       "diagservices-query.monitor.azure.com",
       "global.handler.control.monitor.azure.com",
       "*.handler.control.monitor.azure.com",       # <dce>.<region>.handler.control and <region>.handler.control
       "*.ingest.monitor.azure.com",                # <dce>.<region>.ingest
       "*.privatelink.monitor.azure.com",
       "*.ods.opinsights.azure.com", "*.privatelink.ods.opinsights.azure.com",   # <log analytics workspace id>.
       "*.oms.opinsights.azure.com", "*.privatelink.oms.opinsights.azure.com",
       "*.agentsvc.azure-automation.net", "*.privatelink.agentsvc.azure-automation.net",
       "scadvisorcontent.blob.core.windows.net",   # agents' solution-pack storage account ...
       *_zone("blob.core.windows.net", "scadvisorcontentpl")),  # ... and its record in the privatelink zone
    # --- Application Gateway: any frontend IP configuration; hosts come only from the rule's fqdns ---------------
    _t("Microsoft.Network/applicationGateways", ANY_SUBRESOURCE),
)
# fmt: on


def _key(text: str) -> str:
    return text.strip().casefold()


_BY_PAIR: dict[tuple[str, str], PrivateLinkTarget] = {(_key(t.provider_type), _key(t.subresource)): t for t in TARGETS}
assert len(_BY_PAIR) == len(TARGETS), "duplicate (provider type, sub-resource) pair in TARGETS"

_SUBRESOURCES: dict[str, tuple[str, ...]] = {
    provider: tuple(t.subresource for t in TARGETS if _key(t.provider_type) == provider)
    for provider in dict.fromkeys(_key(t.provider_type) for t in TARGETS)
}


def find_target(provider_type: str, subresource: str) -> PrivateLinkTarget | None:
    """Case-insensitive lookup; None when the pair is unknown.

    A target listed with ``ANY_SUBRESOURCE`` (Application Gateway) is returned for every sub-resource name.
    """
    provider = _key(provider_type)
    return _BY_PAIR.get((provider, _key(subresource))) or _BY_PAIR.get((provider, ANY_SUBRESOURCE))


def known_subresources(provider_type: str) -> tuple[str, ...]:
    """Canonical sub-resource names for a provider type (case-insensitive), () if unknown type.

    Application Gateway gives ``(ANY_SUBRESOURCE,)``: any name is accepted.
    """
    return _SUBRESOURCES.get(_key(provider_type), ())


def host_patterns(provider_type: str, resource_name: str, subresource: str, region: str,
                  skip_regional: bool = False) -> tuple[str, ...]:
    """Templates filled in and lowercased; () for unknown pairs or targets with no derivable host.

    Raises ValueError when a template needs ``{name}`` or ``{region}`` and that argument is blank, unless
    ``skip_regional`` says to leave out the templates that need the (unknown) region.
    """
    target = find_target(provider_type, subresource)
    if target is None:
        return ()
    name = resource_name.strip().lower()
    location = region.strip().lower().replace(" ", "")  # "East US" -> "eastus"
    patterns: dict[str, None] = {}  # ordered set
    for template in target.host_templates:
        if "{name}" in template and not name:
            raise ValueError(f"{target.provider_type}/{target.subresource}: a resource name is needed for {template!r}")
        if "{region}" in template and not location:
            if skip_regional:
                continue
            raise ValueError(f"{target.provider_type}/{target.subresource}: a region is needed for {template!r}")
        patterns[template.format(name=name, region=location).lower()] = None
    return tuple(patterns)


def resource_of_host(host: str, region: str = "") -> tuple[PrivateLinkTarget, str] | None:
    """The Private Link target and resource name a public host name belongs to (``contosolake.dfs.core.windows.net``
    → storage account ``contosolake``, sub-resource ``dfs``), or None. Only templates that name the resource
    (``{name}.<zone>``) are read backwards; wildcards and the ``privatelink.`` names are not."""
    host = host.strip().lower()
    location = region.strip().lower().replace(" ", "")
    for target in TARGETS:
        for template in target.host_templates:
            if not template.startswith("{name}.") or "*" in template or ".privatelink." in template:
                continue
            if "{region}" in template:
                if not location:
                    continue
                template = template.replace("{region}", location)
            suffix = template[len("{name}"):]
            if host.endswith(suffix):
                name = host[: -len(suffix)]
                if name and "." not in name:
                    return target, name
    return None
