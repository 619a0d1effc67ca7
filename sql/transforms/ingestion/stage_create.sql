-- Rows of one load (an API pull or a CSV file), before they are merged into campaign_metrics.
CREATE TEMPORARY TABLE ad_metrics_stage (
    organization_id  uuid NOT NULL,
    source           text NOT NULL,
    account_id       text,
    campaign_id      text NOT NULL,
    ad_set_id        text,
    ad_id            text,
    date             date NOT NULL,
    campaign_name    text,
    ad_name          text,
    currency         char(3) NOT NULL,
    spend            numeric NOT NULL,
    impressions      bigint NOT NULL,
    clicks           bigint NOT NULL,
    link_clicks      bigint NOT NULL,
    conversions      numeric NOT NULL,
    conversion_value numeric NOT NULL,
    video_3s_views   bigint NOT NULL,
    thruplays        bigint NOT NULL,
    platform_actions jsonb
) ON COMMIT DROP
