"""Daily reports: sites, site chiefs, report versions, incidents, schedule and exports."""
