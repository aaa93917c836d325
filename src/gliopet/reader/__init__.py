"""The multi-reader multi-case (MRMC) reader study: the web application for physicians of
several hospitals (`gliopet reader create-study`, `gliopet reader serve`) and the
Obuchowski-Rockette-Hillis analysis (`gliopet reader analyze`)."""
