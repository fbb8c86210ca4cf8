-- MySQL dump 10.13  Distrib 5.0.77, for redhat-linux-gnu (x86_64)
--
-- Host: dcs1.ihep.ac.cn    Database: dybdcsdb
-- ------------------------------------------------------
-- Server version	5.0.77-log

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `AD1_LidSensor`
--

DROP TABLE IF EXISTS `AD1_LidSensor`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8 */;
CREATE TABLE `AD1_LidSensor` (
  `id` int(10) unsigned NOT NULL auto_increment,
  `date_time` datetime NOT NULL,
  `Ultrasonic_GdLS` decimal(8,2) default NULL COMMENT 'mm; distance to the GdLS surface',
  `Ultrasonic_LS` decimal(8,2) default NULL COMMENT 'mm',
  `Temp_GdLS` decimal(6,2) default NULL COMMENT 'deg C',
  `Temp_LS` decimal(6,2) default NULL COMMENT 'deg C',
  `Tilt_X_Cal` decimal(8,4) default NULL,
  `Tilt_Y_Cal` decimal(8,4) default NULL,
  `Tilt1_X` decimal(8,4) default NULL,
  `Tilt1_Y` decimal(8,4) default NULL,
  `Tilt2_X` decimal(8,4) default NULL,
  `Tilt2_Y` decimal(8,4) default NULL,
  `Tilt3_X` decimal(8,4) default NULL,
  `Tilt3_Y` decimal(8,4) default NULL,
  `Capacitance_GdLS` decimal(8,3) default NULL COMMENT 'pF; 100% = full',
  `Capacitance_Temp_GdLS` decimal(6,2) default NULL,
  `Capacitance_LS` decimal(8,3) default NULL,
  `Capacitance_Temp_LS` decimal(6,2) default NULL,
  `Capacitance_MO` decimal(8,3) default NULL,
  `Capacitance_Temp_MO` decimal(6,2) default NULL,
  `Temp_Box` decimal(6,2) default NULL,
  `Quality` tinyint(4) NOT NULL default '1' COMMENT '0 = bad reading; see "DCS quality flags"',
  PRIMARY KEY  (`id`),
  KEY `date_time` (`date_time`)
) ENGINE=InnoDB AUTO_INCREMENT=4223517 DEFAULT CHARSET=latin1;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Table structure for table `DBNS_SAB_Temp`
--

DROP TABLE IF EXISTS `DBNS_SAB_Temp`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8 */;
CREATE TABLE `DBNS_SAB_Temp` (
  `id` int(10) unsigned NOT NULL auto_increment,
  `date_time` datetime NOT NULL,
  `Temp_PT1` decimal(6,2) default NULL COMMENT 'deg C; PT100 sensor 1',
  `Temp_PT2` decimal(6,2) default NULL,
  `Temp_PT3` decimal(6,2) default NULL,
  `Temp_PT4` decimal(6,2) default NULL,
  `Temp_PT5` decimal(6,2) default NULL,
  PRIMARY KEY  (`id`),
  KEY `date_time` (`date_time`)
) ENGINE=InnoDB AUTO_INCREMENT=1873002 DEFAULT CHARSET=latin1;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2011-02-01 10:12:41
