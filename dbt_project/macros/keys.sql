{# A deterministic surrogate key from columns (stable across runs and engines). #}
{% macro surrogate_key(cols) -%}
    md5(
        {%- for c in cols %}
        coalesce(cast({{ c }} as varchar), '~null~'){% if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{# Normalized company name for fuzzy matching: lower case, no punctuation, no legal suffix. #}
{% macro normalize_company_name(col) -%}
    trim({{ regexp_replace_all(
        regexp_replace_all('lower(' ~ col ~ ')', "'[^a-z0-9 ]'", "''"),
        "' (inc|corp|corporation|llc|ltd|limited|plc|gmbh|ag|bv|nv|sa|sas|sarl|srl|sl|spa|kk|co|group|holdings|company)$'",
        "''"
    ) }})
{%- endmacro %}

{# The registrable domain of a URL or e-mail address, lower case, without `www.`. #}
{% macro email_or_url_domain(col) -%}
    nullif({{ regexp_replace_all(
        regexp_replace_all('lower(trim(' ~ col ~ '))', "'^[^@]*@|^(https?://)?(www[.])?'", "''"),
        "'[/:?#].*$'",
        "''"
    ) }}, '')
{%- endmacro %}
