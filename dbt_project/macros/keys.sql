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

{# A Salesforce id compared as Salesforce does: the first 15 characters, case-sensitively (18
   character ids add a case-safe suffix; some tools export 15). #}
{% macro sf_id15(col) -%}
    substr({{ col }}, 1, 15)
{%- endmacro %}

{# The value looks like a Salesforce id of the object whose key prefix is `prefix` (Account
   '001', Contract '800'): 15 or 18 letters and digits. #}
{% macro is_sf_id(col, prefix) -%}
    (
        substr({{ col }}, 1, 3) = '{{ prefix }}'
        and length({{ col }}) in (15, 18)
        and {{ regexp_first(col, "'^[A-Za-z0-9]+$'") }} is not null
    )
{%- endmacro %}

{# Names and codes compared loosely: lower case, letters and digits only. #}
{% macro normalize_code(col) -%}
    nullif({{ regexp_replace_all('lower(' ~ col ~ ')', "'[^a-z0-9]'", "''") }}, '')
{%- endmacro %}
